"""The main job's closing summary: rows a person reads at a glance (short name, figure, unit).

:func:`summary_rows` turns the training summary, the validation record and the deploy summary into
:class:`Row` objects; :func:`summary_table` lays them out as a rich table. :func:`validation_paired`
is the paired table of the validated policy (every scenario, every baseline, oracles marked), shown
after it. Artefact paths are listed after the tables, one per line, so no cell wraps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from twingym.policies.manifest import ValidationRecord
from twingym.policies.paired import (
    POLICY,
    best_baseline,
    kpi_difference,
    return_differences,
    wake_loss_recovered,
)
from twingym.stats import Difference


@dataclass(frozen=True)
class Row:
    """One line of the summary."""

    name: str
    figure: str
    unit: str = ""


def _num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, float) and abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if isinstance(x, float) else (f"{x:,}" if isinstance(x, int) else str(x))


def _signed(x: float) -> str:
    return f"{x:+,.0f}" if abs(x) >= 1000 else f"{x:+.3g}"


def _diff(mean: float, low: float, high: float) -> str:
    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return _signed(mean)
    return f"{_signed(mean)} [{_signed(low)}, {_signed(high)}]"


def training_rows(train: dict) -> list[Row]:
    """Steps, time, throughput and the final paired evaluation against the reference baseline."""
    rows = [Row("training steps", _num(train.get("env_steps")), "env steps"),
            Row("training time", _num(train.get("wall_time_s")), "s"),
            Row("training throughput", _num(train.get("steps_per_s")), "steps/s")]
    final = train.get("final_eval") or {}
    policy = final.get("policy") or {}
    if policy:
        rows.append(Row("final eval: policy return", _num(policy.get("return_mean")),
                        f"return ({final.get('episodes', '?')} episodes)"))
    paired = [Difference.from_json(r) for r in final.get("paired") or []]
    for d in paired:
        rows.append(Row(f"final eval: policy - {d.baseline}" + (" (oracle)" if d.oracle else ""),
                        _diff(d.mean, d.low, d.high), "return, 95 % CI"))
    ref, diff = final.get("reference"), final.get("difference")
    if ref and diff and not paired:      # a summary written before the paired table
        rows.append(Row(f"final eval: policy - {ref}",
                        _diff(diff["mean"], diff["ci_low"], diff["ci_high"]), "return, 95 % CI"))
    return rows


def validation_rows(record: ValidationRecord, passed: bool, failed: list[str]) -> list[Row]:
    """The verdict, then on the nominal scenario the paired return and KPI differences."""
    rows = [Row("validation", "passed" if passed else "FAILED: " + ", ".join(failed), "all gates")]
    scen = record.scenarios.get("nominal")
    if not scen:
        return rows
    ctrl = scen["controllers"]
    for d in validation_paired(record):
        if d.scenario == "nominal":
            rows.append(Row(f"nominal: policy - {d.baseline}" + (" (oracle)" if d.oracle else ""),
                            _diff(d.mean, d.low, d.high), "return, 95 % CI"))
    best = best_baseline(scen, record.oracle_baselines)
    for k in record.kpis:
        figures = ctrl[POLICY].get("kpis", {}).get(k["key"])
        if figures is None:
            continue
        name = k["name"].split(" (")[0]
        rows.append(Row(f"nominal: {name}", _num(figures["mean"]), k["unit"]))
        d = kpi_difference(scen, k["key"], best) if best else None
        if d is not None and not (d.mean == 0 and d.low == 0 and d.high == 0):   # not exogenous
            rows.append(Row(f"  policy - {best}", _diff(d.mean, d.low, d.high), f"{k['unit']}, 95 % CI"))
    if best and any(k["key"] == "freestream_energy_mwh" for k in record.kpis):
        d = wake_loss_recovered(scen, best)
        if d is not None:
            rows.append(Row(f"nominal: wake loss recovered vs {best}", _diff(d.mean, d.low, d.high),
                            "%, 95 % CI"))
    return rows


def validation_paired(record: ValidationRecord) -> list[Difference]:
    """The paired table of a validation record (recomputed from its episodes when the record
    predates the ``paired`` field)."""
    if record.paired:
        return [Difference.from_json(r) for r in record.paired]
    return return_differences(record)


def deploy_rows(deploy: Any) -> list[Row]:
    """What the live deployment did."""
    if deploy is None:
        return []
    rows = [Row("deploy mode", "shadow (nothing written)" if deploy.shadow else "control"),
            Row("live steps: policy / fallback / missed",
                f"{deploy.policy_steps} / {deploy.fallback_steps} / {deploy.missed_steps}", "steps"),
            Row("fallbacks to the local baseline", str(deploy.fallbacks), "events"),
            Row("live reward per step", _num(deploy.reward_sum / deploy.steps) if deploy.steps else "n/a",
                "reward")]
    if deploy.episode_returns:
        rows.append(Row("live complete episodes: mean return", _num(deploy.mean_episode_return),
                        f"return over {len(deploy.episode_returns)} episodes"))
    return rows


def summary_rows(train: dict, record: ValidationRecord, passed: bool, failed: list[str], deploy: Any,
                 wall_s: float) -> list[Row]:
    return (training_rows(train) + validation_rows(record, passed, failed) + deploy_rows(deploy)
            + [Row("total wall time", f"{wall_s:.0f}", "s")])


def summary_table(rows: list[Row], title: str = "twingym pipeline") -> Table:
    table = Table(title=title)
    table.add_column("what", overflow="fold")
    table.add_column("figure", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    for r in rows:
        table.add_row(r.name, r.figure, r.unit)
    return table
