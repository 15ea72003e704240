"""KPIs in physical units and paired comparisons: paired intervals, wake loss recovered, and the
report/summary rows (the damage-equivalent loads are tested in tests/wind_turbine/test_loads.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from twingym.policies.kpis import KPIS
from twingym.policies.manifest import ValidationRecord
from twingym.policies.paired import paired_interval, return_differences, wake_loss_recovered
from twingym.policies.report import _kpi_section

from twingym.cli.pipeline_summary import summary_table, validation_rows


def test_paired_interval_is_the_student_t_interval() -> None:
    d = np.array([1.0, 2.0, 3.0, 4.0])
    mean, low, high = paired_interval(d)
    half = 3.182446305284263 * d.std(ddof=1) / 2.0               # t(0.975, 3) * s / sqrt(4)
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - half, 2.5 + half))


def _record() -> ValidationRecord:
    """A two-controller record: the policy recovers half of greedy's wake loss in every episode."""
    free = np.array([100.0, 80.0, 120.0, 90.0])
    base = free - np.array([10.0, 8.0, 12.0, 6.0])
    pol = base + 0.5 * (free - base)
    kpis = [{"key": k.key, "name": k.name, "unit": k.unit, "higher_is_better": k.higher_is_better,
             "per_step_unit": k.per_step_unit, "series_name": k.series_name} for k in KPIS["WindFarm-v0"]]
    ctrl = lambda r, e: {"returns": list(r), "mean_return": float(np.mean(r)), "kpis": {  # noqa: E731
        "energy_mwh": {"mean": float(e.mean()), "values": list(e)},
        "freestream_energy_mwh": {"mean": float(free.mean()), "values": list(free)}}}
    scen = {"kind": "nominal", "controllers": {"policy": ctrl(pol / 100, pol), "greedy": ctrl(base / 100, base)}}
    return ValidationRecord(passed=True, gates=[], scenarios={"nominal": scen}, kpis=kpis)


def test_wake_loss_recovered_and_the_report_rows() -> None:
    record = _record()
    scen = record.scenarios["nominal"]
    d = wake_loss_recovered(scen, "greedy")
    assert d is not None and d.mean == pytest.approx(50.0) and d.low == pytest.approx(50.0)
    (diff,) = return_differences(record)
    assert diff.baseline == "greedy" and diff.mean == pytest.approx(0.045) and diff.low > 0
    html = _kpi_section(record)
    assert "energy produced [MWh]" in html and "wake loss recovered" in html and "+50 [+50, +50] %" in html
    rows = validation_rows(record, True, [])
    names = [r.name for r in rows]
    assert "nominal: energy produced" in names and "  policy - greedy" in names
    assert all("." not in r.name.split(":")[0] for r in rows)          # no internal dotted keys
    energy = rows[names.index("nominal: energy produced") + 1]
    assert energy.name == "  policy - greedy" and energy.unit == "MWh, 95 % CI" and energy.figure.startswith("+4.5")
    assert "nominal: energy without wakes" in names                   # exogenous: no difference row
    assert names[names.index("nominal: energy without wakes") + 1] != "  policy - greedy"
    assert summary_table(rows).row_count == len(rows)


def test_every_registered_kpi_reads_a_scalar_its_twin_reports() -> None:
    """Each KPI's per-step quantity exists in its twin's ``info`` and is one value per step (traced
    abstractly with ``jax.eval_shape``: nothing is compiled)."""
    import jax
    import twingym.envs as tg

    for twin_id, kpis in KPIS.items():
        env, params = tg.make(twin_id)
        key = jax.random.PRNGKey(0)

        def per_step(key=key, env=env, params=params, kpis=kpis):
            _, state = env.reset(key, params)
            action = env.action_space(params).sample(key)
            info = env.step(key, state, action, params)[5]
            return [k.step(info, params) for k in kpis]

        shapes = jax.eval_shape(per_step)
        assert [s.shape for s in shapes] == [()] * len(kpis), twin_id
        assert all(math.isfinite(k.episode(np.ones(10), params)) for k in kpis), twin_id
