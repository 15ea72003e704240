"""What "the policy beats a baseline" means, per twin: the performance gate's criteria, as a registry.

A :class:`Criterion` turns one scenario of a validation record into tests of the policy against one
(non-oracle) baseline. The performance gate (:func:`twingym.policies.gates.evaluate`) applies the
twin's criterion on every scenario against every baseline; oracles (``TwinEnv.oracle_baselines``)
are never tested. Thresholds are the ``performance:`` entries of ``gates.yaml`` named in
:attr:`Criterion.thresholds` (tighten-only from user files like every other gate).

- ``return`` (every twin unless :data:`TWIN_CRITERIA` names another): the paired 95 % interval of
  the episode return, policy minus baseline, lies above ``return_min_low`` (0: "beats").
- ``energy_and_loads`` (WindTurbine-v0): at equal energy, lower fatigue loads. Per episode pair the
  relative energy difference ``(E_pol - E_base) / E_base`` (KPI ``energy_mwh``) has a mean of at
  least ``energy_min_rel_diff`` (-0.005: within 0.5 % of the baseline's energy, or more); and for
  each damage-equivalent load of :data:`TURBINE_LOADS` the paired 95 % interval of policy minus
  baseline (kN or kN m) lies below ``load_max_high`` (0: lower loads). A load the twin's KPI
  registry does not have is skipped with a note in the gate's detail.

Records: ``scenario["controllers"][name]`` holds ``returns`` (E,) and ``kpis`` {key: {"values": (E,)}}
(see :mod:`twingym.policies.validate`); episodes are paired by index (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from twingym.stats import Difference, paired_differences, t_interval

POLICY = "policy"

#: damage-equivalent loads the turbine criterion requires to fall, when the KPI registry has them
TURBINE_LOADS = ("tower_base_del_knm", "shaft_torque_del_knm", "blade_root_del_knm")
ENERGY_KPI = "energy_mwh"


@dataclass(frozen=True)
class Test:
    """One test of a criterion: ``figure op threshold`` (op ``>``, ``>=`` or ``<``) in ``unit``."""

    what: str
    figure: float | None
    op: str
    threshold: float
    unit: str


@dataclass(frozen=True)
class Verdicts:
    """The tests of one scenario and baseline, plus notes on what could not be tested."""

    tests: list[Test] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


#: ``(scenario name, scenario record, baseline, performance thresholds, KPI keys the twin records)``
CriterionFn = Callable[[str, dict, str, Mapping[str, float], frozenset[str]], Verdicts]


@dataclass(frozen=True)
class Criterion:
    """A named criterion: its ``thresholds`` ({key in gates.yaml ``performance``: "min" | "max"},
    "min" = a lower bound, a larger value is tighter) and its test function."""

    name: str
    description: str
    thresholds: dict[str, str]
    tests: CriterionFn


def _values(controller: dict, key: str | None) -> np.ndarray | None:
    """Per-episode returns (``key`` None) or KPI figures of one controller record; None if absent."""
    if key is None:
        return np.asarray(controller["returns"], dtype=np.float64)
    kpi = (controller.get("kpis") or {}).get(key)
    if kpi is None:
        return None
    return np.asarray(kpi["values"] if isinstance(kpi, dict) else kpi, dtype=np.float64)


def _difference(name: str, scen: dict, baseline: str, key: str | None) -> Difference | None:
    ctrl = scen["controllers"]
    pol, base = _values(ctrl[POLICY], key), _values(ctrl[baseline], key)
    if pol is None or base is None:
        return None
    return paired_differences(name, pol, {baseline: base}, metric=key or "return")[0]


def _describe(d: Difference, unit: str) -> str:
    return f"{d.interval_text()} {unit} (n={d.n}, {d.verdict})".replace("  ", " ")


def return_tests(name: str, scen: dict, baseline: str, thresholds: Mapping[str, float],
                 kpi_keys: frozenset[str]) -> Verdicts:
    """The paired 95 % interval of the return difference lies above ``return_min_low``."""
    d = _difference(name, scen, baseline, None)
    return Verdicts([Test(f"{name}: policy - {baseline} return {_describe(d, '')}", d.low, ">",
                          thresholds["return_min_low"], "return")])


def energy_and_loads_tests(name: str, scen: dict, baseline: str, thresholds: Mapping[str, float],
                           kpi_keys: frozenset[str]) -> Verdicts:
    """Energy within ``energy_min_rel_diff`` of the baseline's (mean relative difference), and every
    recorded damage-equivalent load of :data:`TURBINE_LOADS` lower (interval below ``load_max_high``)."""
    ctrl = scen["controllers"]
    tests, notes = [], []
    pol, base = _values(ctrl[POLICY], ENERGY_KPI), _values(ctrl[baseline], ENERGY_KPI)
    if pol is None or base is None:
        tests.append(Test(f"{name}: {ENERGY_KPI} of policy and {baseline} not recorded", None, ">=",
                          thresholds["energy_min_rel_diff"], "fraction"))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = (pol - base) / base
        mean, low, high = t_interval(rel)
        tests.append(Test(f"{name}: {ENERGY_KPI} policy vs {baseline}: mean relative difference "
                          f"{100 * mean:+.2f} % [{100 * low:+.2f}, {100 * high:+.2f}] (n={len(rel)})",
                          mean, ">=", thresholds["energy_min_rel_diff"], "fraction"))
    for key in TURBINE_LOADS:
        if key not in kpi_keys:
            notes.append(f"{key} is not in the twin's KPI registry: not checked")
            continue
        d = _difference(name, scen, baseline, key)
        what = (f"{name}: {key} policy - {baseline} {_describe(d, 'kN m' if key.endswith('knm') else 'kN')}"
                if d is not None else f"{name}: {key} of policy and {baseline} not recorded")
        tests.append(Test(what, None if d is None else d.high, "<", thresholds["load_max_high"],
                          "kN m" if key.endswith("knm") else "kN"))
    return Verdicts(tests, notes)


CRITERIA: dict[str, Criterion] = {
    "return": Criterion("return", "paired 95 % interval of policy - baseline return above zero",
                        {"return_min_low": "min"}, return_tests),
    "energy_and_loads": Criterion(
        "energy_and_loads", "energy within 0.5 % of the baseline's and lower damage-equivalent loads",
        {"energy_min_rel_diff": "min", "load_max_high": "max"}, energy_and_loads_tests),
}

#: twins judged by another criterion than ``return``
TWIN_CRITERIA: dict[str, str] = {"WindTurbine-v0": "energy_and_loads"}


def criterion_for(twin_id: str | None) -> Criterion:
    """The criterion of ``twin_id`` (``return`` unless :data:`TWIN_CRITERIA` names another)."""
    return CRITERIA[TWIN_CRITERIA.get(twin_id or "", "return")]


def threshold_directions() -> dict[str, str]:
    """Every criterion's performance threshold with its direction (for the gates loader)."""
    out: dict[str, str] = {}
    for c in CRITERIA.values():
        out.update(c.thresholds)
    return out


__all__ = ["CRITERIA", "ENERGY_KPI", "TURBINE_LOADS", "TWIN_CRITERIA", "Criterion", "Test", "Verdicts",
           "criterion_for", "threshold_directions"]
