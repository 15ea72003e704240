"""Pass/fail gates of validation: thresholds (``gates.yaml``, tighten-only user files) and verdicts.

:func:`load_gates` merges the packaged defaults (``policies/gates.yaml``), the twin's entry under
``twins:`` and an optional user file; a user value looser than the default raises :class:`GatesError`.
:func:`evaluate` turns the evidence gathered by ``validate`` into one record per gate:
``{"name", "passed", "figure", "threshold", "op", "unit", "detail", "checks": [...]}`` where ``figure``
and ``threshold`` are those of the gate's tightest check (a failing one when any fails).

The performance gate applies the twin's criterion (:mod:`twingym.policies.criteria`) on every
scenario against every baseline that is not an oracle: by default the paired 95 % interval of
policy minus baseline return must lie above zero. There is no floor below the strongest baseline.
Thresholds of the earlier rule (:data:`REMOVED`) are dropped from a gates file with one note each,
or carried over where a new threshold demands at least as much.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from twingym.policies.criteria import POLICY, criterion_for, threshold_directions

DEFAULTS_FILE = Path(__file__).with_name("gates.yaml")
GATE_NAMES = ("equivalence", "performance", "safety", "robustness", "fuzz", "latency")

#: direction of every threshold: "max" = an upper bound (smaller is tighter), "min" = a lower bound.
DIRECTIONS: dict[str, dict[str, str]] = {
    "equivalence": {"max_abs_error_frac": "max", "max_mismatch_frac": "max"},
    "performance": threshold_directions(),
    "safety": {"max_cost_rate": "max", "baseline_cost_factor": "max"},
    "robustness": {"max_return_drop_frac": "max"},
    "fuzz": {"min_ok_frac": "min"},
    "latency": {"p99_ms": "max"},
}


#: thresholds of the earlier performance rule: ``(gate, key) -> (carried over to, why)``. The
#: current rule beats every baseline on every scenario, so it demands more than any value of the
#: dropped keys did; ``nominal_min_advantage`` carries over to ``return_min_low`` (the lower end
#: of the interval must exceed it, on every scenario: at least what the nominal mean had to).
REMOVED: dict[tuple[str, str], tuple[str | None, str]] = {
    ("performance", "max_regression_frac"): (
        None, "there is no floor below the strongest baseline any more"),
    ("performance", "nominal_beat_all_baselines"): (
        None, "every scenario is now judged against every baseline"),
    ("performance", "nominal_min_advantage"): (
        "return_min_low", "the lower end of the paired 95 % interval must now exceed it on every scenario"),
}


class GatesError(ValueError):
    """A malformed or loosening gates file (one line)."""


class GatesWarning(UserWarning):
    """A gates file names a threshold that was removed (one line: what replaced it)."""


def removed_keys(data: dict) -> list[str]:
    """``gate.key`` of every threshold of :data:`REMOVED` in the gates mapping ``data`` (a gates
    file, or the ``gates_config`` of a validation record written before the current rule)."""
    return [f"{gate}.{key}" for gate, values in (data or {}).items() if isinstance(values, dict)
            for key in values if (gate, key) in REMOVED]


def _migrate(data: dict, where: str, say: Callable[[str], None]) -> dict:
    """``data`` with the removed thresholds dropped or renamed, each reported in one line through ``say``."""
    for name in removed_keys(data):
        gate, key = name.split(".")
        new, why = REMOVED[(gate, key)]
        say(f"{where}: {name} was removed ({why}); " + (f"its value now applies to {gate}.{new}" if new
                                                         else "the key is ignored"))
    out = {}
    for gate, values in data.items():
        if gate == "twins" or not isinstance(values, dict):
            out[gate] = values
            continue
        kept = {}
        for key, value in values.items():
            new, _ = REMOVED.get((gate, key), (key, ""))
            if new is not None:
                kept[new] = value
        out[gate] = kept
    return out


def _warn(note: str) -> None:
    warnings.warn(note, GatesWarning, stacklevel=4)


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


def load_gates(user_file: str | Path | None = None, twin_id: str | None = None,
               say: Callable[[str], None] | None = None) -> dict:
    """Thresholds by gate: defaults, then the twin's defaults, then ``user_file`` (tighten-only).

    A removed threshold in ``user_file`` (:data:`REMOVED`) is reported in one line through ``say``
    (a :class:`GatesWarning` without it) and dropped or carried over.
    """
    say = say or _warn
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
        user = _migrate(_read(path), f"gates file {path}", say)
        _check_shape(user, f"gates file {path}")
        user_twin = _migrate((user.get("twins") or {}).get(twin_id or "", {}) or {},
                             f"gates file {path} (twins.{twin_id})", say)
        _check_shape(user_twin, f"gates file {path} (twins.{twin_id})")
        gates = _merge(gates, user, f"gates file {path}", tighten_only=True)
        gates = _merge(gates, user_twin, f"gates file {path}", tighten_only=True)
    return gates


# ---- verdicts --------------------------------------------------------------------------------------------
#: ``figure op threshold`` for every operator a check may use
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda f, t: f <= t, "<": lambda f, t: f < t, ">=": lambda f, t: f >= t, ">": lambda f, t: f > t}


def _check(what: str, figure: float | None, op: str, threshold: float, unit: str | None = None) -> dict:
    passed = figure is not None and bool(np.isfinite(figure)) and OPS[op](figure, threshold)
    out = {"what": what, "figure": None if figure is None else float(figure), "op": op,
           "threshold": float(threshold), "passed": bool(passed)}
    if unit is not None:
        out["unit"] = unit
    return out


def _margin(c: dict) -> float:
    if c["figure"] is None or not np.isfinite(c["figure"]):
        return -np.inf
    return c["threshold"] - c["figure"] if c["op"] in ("<=", "<") else c["figure"] - c["threshold"]


def _gate(name: str, checks: list[dict], unit: str, detail: str = "", notes: str = "") -> dict:
    """The gate record; its figure is that of the tightest failing check (of the tightest check when
    all pass), its detail ``detail`` or that check's ``what``, followed by ``notes``."""
    if not checks:
        return {"name": name, "passed": True, "figure": None, "threshold": None, "op": None, "unit": unit,
                "detail": detail or "nothing to check", "checks": []}
    failing = [c for c in checks if not c["passed"]]
    worst = min(failing or checks, key=_margin)
    more = f"{len(failing)} of {len(checks)} checks fail" if len(failing) > 1 else ""
    return {"name": name, "passed": not failing, "figure": worst["figure"],
            "threshold": worst["threshold"], "op": worst["op"], "unit": worst.get("unit", unit),
            "detail": "; ".join(x for x in (detail or worst["what"], more, notes) if x), "checks": checks}


def performance_gate(evidence: dict, thresholds: dict) -> dict:
    """The twin's criterion on every scenario against every baseline that is not an oracle."""
    criterion = criterion_for(evidence.get("twin"))
    oracles = set(evidence.get("oracle_baselines") or ())
    kpi_keys = frozenset(evidence.get("kpi_keys") or ())
    checks, notes = [], []
    for name, scen in evidence["scenarios"].items():
        for base in (b for b in scen["controllers"] if b != POLICY and b not in oracles):
            verdicts = criterion.tests(name, scen, base, thresholds, kpi_keys)
            checks += [_check(t.what, t.figure, t.op, t.threshold, t.unit) for t in verdicts.tests]
            notes += [n for n in verdicts.notes if n not in notes]
    if not checks:
        return _gate("performance", [], "return",
                     "the twin has no baselines" + (" other than oracles" if oracles else ""))
    gate = _gate("performance", checks, "return", notes="; ".join(notes))
    return {**gate, "criterion": criterion.name}


def evaluate(evidence: dict, gates: dict) -> list[dict]:
    """Gate records from ``evidence`` (built by ``validate``).

    ``evidence``: ``scenarios`` {name: {"kind", "controllers": {name: {"returns": [..], "cost_rate",
    "kpis": {key: {"values": [..]}}}}}} with the policy under the name ``"policy"`` (the scenario
    records of ``validation.json``); ``twin`` (its id chooses the performance criterion);
    ``oracle_baselines`` (upper references, neither gated against nor setting the safety limit);
    ``kpi_keys`` (the twin's KPI registry); ``equivalence`` [{"reference", "metric", "value", "n"}];
    ``fuzz`` {"ok", "n"}; ``latency`` {"p99_ms", ...}.
    """
    out = []
    eq = gates["equivalence"]
    checks = []
    for item in evidence["equivalence"]:
        limit = eq["max_abs_error_frac"] if item["metric"] == "max_abs_error_frac" else eq["max_mismatch_frac"]
        checks.append(_check(f"{item['reference']} ({item['metric']}, n={item['n']})", item["value"], "<=", limit))
    out.append(_gate("equivalence", checks, "fraction of action range"))

    out.append(performance_gate(evidence, gates["performance"]))
    scen = evidence["scenarios"]
    oracles = set(evidence.get("oracle_baselines") or ())
    safety, robust = [], []
    nominal = next(name for name, s in scen.items() if s["kind"] == "nominal")
    pol_nominal = float(np.mean(scen[nominal]["controllers"][POLICY]["returns"]))
    for name, s in scen.items():
        ctrl = s["controllers"]
        pol = np.asarray(ctrl[POLICY]["returns"], dtype=np.float64)
        rates = [c["cost_rate"] for b, c in ctrl.items() if b != POLICY and b not in oracles]
        limit = max(gates["safety"]["max_cost_rate"],
                    gates["safety"]["baseline_cost_factor"] * min(rates) if rates else 0.0)
        safety.append(_check(f"{name}: policy cost rate", ctrl[POLICY]["cost_rate"], "<=", limit))
        if s["kind"] in ("noise", "dropout"):
            floor = pol_nominal - gates["robustness"]["max_return_drop_frac"] * abs(pol_nominal)
            robust.append(_check(f"{name}: policy mean return vs nominal {pol_nominal:.4g}", float(np.mean(pol)),
                                 ">=", floor))
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


def failure_line(gates: list[dict]) -> str:
    """The gates that did not pass, in one line; the performance gate with the check that failed it
    (scenario, baseline and interval), e.g. ``performance: direction_ramp: policy - wake_steering
    return -1.2 [-1.9, -0.5] (n=64, loses); safety``."""
    parts = []
    for gate in gates:
        if gate.get("passed") is not True:
            detail = str(gate.get("detail", "")) if gate.get("name") == "performance" else ""
            parts.append(f"{gate.get('name')}: {detail}" if detail else str(gate.get("name")))
    return "; ".join(parts)
