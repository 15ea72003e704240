"""Pass/fail gates of validation: thresholds (``gates.yaml``, tighten-only user files) and verdicts.

:func:`load_gates` merges the packaged defaults (``policies/gates.yaml``), the twin's entry under
``twins:`` and an optional user file; a user value looser than the default raises :class:`GatesError`.
:func:`evaluate` turns the evidence gathered by ``validate`` into one record per gate:
``{"name", "passed", "figure", "threshold", "op", "unit", "detail", "checks": [...]}`` where ``figure``
and ``threshold`` are those of the gate's tightest check (a failing one when any fails).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import yaml

DEFAULTS_FILE = Path(__file__).with_name("gates.yaml")
GATE_NAMES = ("equivalence", "performance", "safety", "robustness", "fuzz", "latency")

#: direction of every threshold: "max" = an upper bound (smaller is tighter), "min" = a lower bound.
DIRECTIONS: dict[str, dict[str, str]] = {
    "equivalence": {"max_abs_error_frac": "max", "max_mismatch_frac": "max"},
    "performance": {"nominal_min_advantage": "min", "nominal_beat_all_baselines": "min",
                    "max_regression_frac": "max"},
    "safety": {"max_cost_rate": "max", "baseline_cost_factor": "max"},
    "robustness": {"max_return_drop_frac": "max"},
    "fuzz": {"min_ok_frac": "min"},
    "latency": {"p99_ms": "max"},
}


class GatesError(ValueError):
    """A malformed or loosening gates file (one line)."""


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise GatesError(f"gates file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise GatesError(f"gates file {path}: expected a mapping of gate -> thresholds")
    return data


def _check_shape(data: dict, where: str) -> None:
    for gate, values in data.items():
        if gate == "twins":
            continue
        if gate not in DIRECTIONS:
            raise GatesError(f"{where}: unknown gate {gate!r}; gates: {', '.join(GATE_NAMES)}")
        if not isinstance(values, dict):
            raise GatesError(f"{where}: gate {gate!r} must map threshold names to numbers")
        for key, value in values.items():
            if key not in DIRECTIONS[gate]:
                raise GatesError(f"{where}: gate {gate!r} has no threshold {key!r}; valid: "
                                 f"{', '.join(DIRECTIONS[gate])}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise GatesError(f"{where}: {gate}.{key} must be a number, got {value!r}")


def _merge(base: dict, over: dict, where: str, tighten_only: bool) -> dict:
    out = copy.deepcopy(base)
    for gate, values in over.items():
        if gate == "twins":
            continue
        for key, value in values.items():
            old = out[gate][key]
            looser = value > old if DIRECTIONS[gate][key] == "max" else value < old
            if tighten_only and looser:
                raise GatesError(f"{where} loosens {gate}.{key} ({old:g} -> {value:g}); gates may only be "
                                 "tightened")
            out[gate][key] = float(value)
    return out


def load_gates(user_file: str | Path | None = None, twin_id: str | None = None) -> dict:
    """Thresholds by gate: defaults, then the twin's defaults, then ``user_file`` (tighten-only)."""
    defaults = _read(DEFAULTS_FILE)
    _check_shape(defaults, str(DEFAULTS_FILE))
    gates = {g: {k: float(v) for k, v in defaults[g].items()} for g in GATE_NAMES}
    twin_defaults = (defaults.get("twins") or {}).get(twin_id or "", {}) or {}
    _check_shape(twin_defaults, f"{DEFAULTS_FILE} (twins.{twin_id})")
    gates = _merge(gates, twin_defaults, f"twin defaults of {twin_id}", tighten_only=False)
    if user_file is not None:
        path = Path(user_file)
        if not path.is_file():
            raise FileNotFoundError(f"gates file {path} does not exist")
        user = _read(path)
        _check_shape(user, f"gates file {path}")
        user_twin = (user.get("twins") or {}).get(twin_id or "", {}) or {}
        _check_shape(user_twin, f"gates file {path} (twins.{twin_id})")
        gates = _merge(gates, user, f"gates file {path}", tighten_only=True)
        gates = _merge(gates, user_twin, f"gates file {path}", tighten_only=True)
    return gates


# ---- verdicts --------------------------------------------------------------------------------------------
def _check(what: str, figure: float | None, op: str, threshold: float) -> dict:
    if figure is None or not np.isfinite(figure):
        passed = False
    elif op == "<=":
        passed = figure <= threshold
    elif op == ">=":
        passed = figure >= threshold
    else:  # ">"
        passed = figure > threshold
    return {"what": what, "figure": None if figure is None else float(figure), "op": op,
            "threshold": float(threshold), "passed": bool(passed)}


def _margin(c: dict) -> float:
    if c["figure"] is None or not np.isfinite(c["figure"]):
        return -np.inf
    return c["threshold"] - c["figure"] if c["op"] == "<=" else c["figure"] - c["threshold"]


def _gate(name: str, checks: list[dict], unit: str, detail: str = "") -> dict:
    if not checks:
        return {"name": name, "passed": True, "figure": None, "threshold": None, "op": None, "unit": unit,
                "detail": detail or "nothing to check", "checks": []}
    worst = min(checks, key=_margin)
    return {"name": name, "passed": all(c["passed"] for c in checks), "figure": worst["figure"],
            "threshold": worst["threshold"], "op": worst["op"], "unit": unit,
            "detail": detail or worst["what"], "checks": checks}


def evaluate(evidence: dict, gates: dict) -> list[dict]:
    """Gate records from ``evidence`` (built by ``validate``).

    ``evidence``: ``scenarios`` {name: {"kind", "controllers": {name: {"returns": [..], "cost_rate"}}}}
    with the policy under the name ``"policy"``; ``reference_baseline`` (the twin's best simple
    baseline, which the nominal check compares with unless ``nominal_beat_all_baselines`` is 1); ``equivalence`` [{"reference", "metric", "value", "n"}];
    ``fuzz`` {"ok", "n"}; ``latency`` {"p99_ms", ...}.
    """
    out = []
    eq = gates["equivalence"]
    checks = []
    for item in evidence["equivalence"]:
        limit = eq["max_abs_error_frac"] if item["metric"] == "max_abs_error_frac" else eq["max_mismatch_frac"]
        checks.append(_check(f"{item['reference']} ({item['metric']}, n={item['n']})", item["value"], "<=", limit))
    out.append(_gate("equivalence", checks, "fraction of action range"))

    scen = evidence["scenarios"]
    perf, safety, robust = [], [], []
    nominal = next(name for name, s in scen.items() if s["kind"] == "nominal")
    pol_nominal = float(np.mean(scen[nominal]["controllers"]["policy"]["returns"]))
    for name, s in scen.items():
        ctrl = s["controllers"]
        pol = np.asarray(ctrl["policy"]["returns"], dtype=np.float64)
        base = {b: np.asarray(c["returns"], dtype=np.float64) for b, c in ctrl.items() if b != "policy"}
        if base:
            best = max(base, key=lambda b: float(np.mean(base[b])))
            best_mean = float(np.mean(base[best]))
            if s["kind"] == "nominal":
                ref = evidence.get("reference_baseline")
                beat_all = gates["performance"].get("nominal_beat_all_baselines", 0.0) >= 0.5
                target, why = (ref, "the twin's best simple baseline") if ref in base and not beat_all \
                    else (best, "best baseline")
                adv = float(np.mean(pol - base[target]))
                perf.append(_check(f"{name}: mean return policy - {target} ({why})", adv, ">",
                                   gates["performance"]["nominal_min_advantage"]))
            floor = best_mean - gates["performance"]["max_regression_frac"] * abs(best_mean)
            perf.append(_check(f"{name}: policy mean return vs {best} {best_mean:.4g} - "
                               f"{gates['performance']['max_regression_frac']:g}*|.|", float(np.mean(pol)),
                               ">=", floor))
        rates = [c["cost_rate"] for b, c in ctrl.items() if b != "policy"]
        limit = max(gates["safety"]["max_cost_rate"],
                    gates["safety"]["baseline_cost_factor"] * min(rates) if rates else 0.0)
        safety.append(_check(f"{name}: policy cost rate", ctrl["policy"]["cost_rate"], "<=", limit))
        if s["kind"] in ("noise", "dropout"):
            floor = pol_nominal - gates["robustness"]["max_return_drop_frac"] * abs(pol_nominal)
            robust.append(_check(f"{name}: policy mean return vs nominal {pol_nominal:.4g}", float(np.mean(pol)),
                                 ">=", floor))
    out.append(_gate("performance", perf, "return", "" if perf else "the twin has no baselines"))
    out.append(_gate("safety", safety, "cost per step"))
    out.append(_gate("robustness", robust, "return"))
    fz = evidence["fuzz"]
    out.append(_gate("fuzz", [_check(f"finite, in-bounds actions on {fz['n']} fuzzed observations",
                                     fz["ok"] / max(fz["n"], 1), ">=", gates["fuzz"]["min_ok_frac"])], "fraction"))
    out.append(latency_gate(evidence["latency"], gates["latency"]["p99_ms"]))
    return out


def latency_gate(lat: dict, limit_ms: float) -> dict:
    """The latency gate. On a loaded machine (``lat["loaded"]``, see :mod:`twingym.policies.latency`)
    the figure is reported against the limit but does not fail the gate: a verdict must not depend
    on how busy the machine was."""
    rounds = f"best of {lat['rounds']} rounds of {lat['n']} calls" if lat.get("rounds") else f"{lat['n']} calls"
    check = _check(f"single-observation p99 ({rounds})", lat["p99_ms"], "<=", limit_ms)
    if not lat.get("loaded"):
        return _gate("latency", [check], "ms")
    check = {**check, "passed": True, "gated": False}
    return _gate("latency", [check], "ms",
                 f"not gated: machine loaded (load average {lat['load_avg']:.1f} > {lat['cores']} cores); "
                 f"p99 {lat['p99_ms']:.3f} ms against the limit {limit_ms:g} ms, reported only")
