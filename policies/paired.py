"""Paired comparisons of the policy with each baseline, from a validation record.

Validation runs every controller on the same episodes (common random numbers: same start states,
same wind, load and failure draws), so the per-episode difference ``policy - baseline`` removes
the episode-to-episode variance the controllers share. Its mean and 95 % interval (Student t with
``n - 1`` degrees of freedom) answer "is the policy better than the controller I trust, and by how
much", in reward units or in any KPI's physical unit. The interval, the verdict (beats / loses /
tie) and the :class:`~twingym.stats.Difference` row are those of :mod:`twingym.stats`; baselines
named in the record's ``oracle_baselines`` (perfect foresight) are upper references: listed after
the others, marked, and left out of :func:`best_baseline`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from twingym.policies.manifest import ValidationRecord

from twingym.stats import Difference, paired_differences
from twingym.stats import t_interval as paired_interval

POLICY = "policy"


def baselines_of(scenario: dict, oracles: Iterable[str] = ()) -> list[str]:
    """The baselines of one scenario record, in record order, leaving out those named in ``oracles``."""
    skip = set(oracles)
    return [c for c in scenario["controllers"] if c != POLICY and c not in skip]


def oracles_of(scenario: dict, oracles: Iterable[str]) -> list[str]:
    """The oracle baselines (upper references) present in one scenario record, in record order."""
    wanted = set(oracles)
    return [c for c in scenario["controllers"] if c != POLICY and c in wanted]


def scenario_differences(name: str, scenario: dict, oracles: Iterable[str] = ()) -> list[Difference]:
    """Paired return difference of the policy minus every baseline of one scenario record (baselines
    first, then the oracles, marked)."""
    ctrl = scenario["controllers"]
    order = [*baselines_of(scenario, oracles), *oracles_of(scenario, oracles)]
    return paired_differences(name, ctrl[POLICY]["returns"], {b: ctrl[b]["returns"] for b in order}, oracles)


def return_differences(record: ValidationRecord) -> list[Difference]:
    """Paired return difference of the policy minus every baseline and oracle, per scenario (record
    order): the paired table of a validation record."""
    return [d for name, scen in record.scenarios.items()
            for d in scenario_differences(name, scen, record.oracle_baselines)]


def kpi_difference(scenario: dict, key: str, baseline: str) -> Difference | None:
    """Paired difference of one KPI (policy - ``baseline``) in one scenario record; None if absent."""
    ctrl = scenario["controllers"]
    if key not in ctrl[POLICY].get("kpis", {}) or key not in ctrl[baseline].get("kpis", {}):
        return None
    pol = np.asarray(ctrl[POLICY]["kpis"][key]["values"])
    base = np.asarray(ctrl[baseline]["kpis"][key]["values"])
    mean, low, high = paired_interval(pol - base)
    return Difference("", baseline, mean, low, high, len(pol), metric=key)


def wake_loss_recovered(scenario: dict, baseline: str, energy: str = "energy_mwh",
                        freestream: str = "freestream_energy_mwh") -> Difference | None:
    """Share (%) of the baseline's wake loss the policy recovers: ``100 (E_pol - E_base) /
    (E_free - E_base)`` per episode pair, with ``E_free`` the energy at free-stream wind (no wakes).

    The figure is the ratio of the summed energies over the episodes (robust to episodes with
    almost no wake loss); its 95 % interval is a paired bootstrap of that ratio (2,000 resamples of
    the episodes, fixed seed).
    """
    ctrl = scenario["controllers"]
    try:
        pol = np.asarray(ctrl[POLICY]["kpis"][energy]["values"])
        base = np.asarray(ctrl[baseline]["kpis"][energy]["values"])
        free = np.asarray(ctrl[baseline]["kpis"][freestream]["values"])
    except KeyError:
        return None
    loss = free - base
    if not loss.sum() > 0:
        return None
    n = len(pol)
    mean = float(100.0 * np.sum(pol - base) / np.sum(loss))
    idx = np.random.default_rng(0).integers(0, n, size=(2000, n))
    lost = loss[idx].sum(1)
    ratios = 100.0 * (pol - base)[idx].sum(1)[lost > 0] / lost[lost > 0]
    low, high = (np.percentile(ratios, [2.5, 97.5]) if n > 1 and len(ratios) else (math.nan, math.nan))
    return Difference("", baseline, mean, float(low), float(high), n)


def representative_episode(scenario: dict, baseline: str) -> int:
    """The episode whose paired return difference against ``baseline`` is closest to the median."""
    ctrl = scenario["controllers"]
    diff = np.asarray(ctrl[POLICY]["returns"]) - np.asarray(ctrl[baseline]["returns"])
    return int(np.argmin(np.abs(diff - np.median(diff))))


def best_baseline(scenario: dict, oracles: Iterable[str] = ()) -> str | None:
    """The non-oracle baseline with the highest mean return in one scenario record."""
    names = baselines_of(scenario, oracles)
    return max(names, key=lambda n: scenario["controllers"][n]["mean_return"]) if names else None
