"""The performance gate on recorded evidence (no rollouts): the policy must beat every baseline that is
not an oracle on every scenario (paired 95 % interval above zero); the wind turbine's criterion trades
energy against fatigue loads; removed thresholds of old gates files and old bundles give one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from twingym.policies import bundle as B
from twingym.policies import gates as G
from twingym.policies.criteria import TURBINE_LOADS

EPISODES = 64
DATA = Path(__file__).parent / "data"


def _evidence(gaps: dict[str, dict[str, float]], twin: str = "WindFarm-v0", oracles=(), spread: float = 0.2,
              kpis: dict | None = None, kpi_keys=()) -> dict:
    """Evidence of a suite: ``gaps[scenario][baseline]`` = true mean of policy - baseline return. The
    returns vary a lot between episodes (3 return units), the paired difference by ``spread``."""
    scenarios = {}
    for i, (name, by_base) in enumerate(gaps.items()):
        rng = np.random.default_rng(i)
        policy = -15.0 + 3.0 * rng.standard_normal(EPISODES)
        ctrl = {"policy": {"returns": list(policy), "cost_rate": 0.0}}
        for base, gap in by_base.items():
            ctrl[base] = {"returns": list(policy - gap - spread * rng.standard_normal(EPISODES)), "cost_rate": 0.0}
        for who, values in ((kpis or {}).get(name) or {}).items():
            ctrl[who]["kpis"] = {k: {"values": list(v)} for k, v in values.items()}
        scenarios[name] = {"kind": "nominal" if i == 0 else "twin", "controllers": ctrl}
    return {"scenarios": scenarios, "twin": twin, "oracle_baselines": list(oracles), "kpi_keys": list(kpi_keys),
            "equivalence": [], "fuzz": {"ok": 1, "n": 1}, "latency": {"p99_ms": 0.01, "n": 10}}


def _perf(evidence: dict, gates: dict | None = None) -> dict:
    return next(g for g in G.evaluate(evidence, gates or G.load_gates()) if g["name"] == "performance")


SUITE = {"nominal": {"greedy": 1.0, "wake_steering": 0.5},
         "direction_ramp": {"greedy": 0.9, "wake_steering": 0.4},
         "high_turbulence": {"greedy": 1.2, "wake_steering": 0.6}}


def test_a_policy_that_beats_every_baseline_on_every_scenario_passes():
    perf = _perf(_evidence(SUITE))
    assert perf["passed"] and perf["criterion"] == "return"
    assert len(perf["checks"]) == 6 and all(c["op"] == ">" and c["threshold"] == 0.0 for c in perf["checks"])
    # the figure is the lower end of the tightest interval: wake_steering on direction_ramp
    assert "direction_ramp: policy - wake_steering" in perf["detail"] and 0 < perf["figure"] < 0.4


def test_losing_to_the_table_on_one_scenario_fails_naming_scenario_baseline_and_interval():
    gaps = {**SUITE, "direction_ramp": {"greedy": 0.9, "wake_steering": -0.3}}
    perf = _perf(_evidence(gaps))
    assert not perf["passed"]
    failing = [c for c in perf["checks"] if not c["passed"]]
    assert len(failing) == 1 and failing[0]["what"].startswith("direction_ramp: policy - wake_steering return -0.")
    line = perf["detail"]
    assert "\n" not in line and line.startswith("direction_ramp: policy - wake_steering return -0.")
    assert "[-0." in line and "(n=64, loses)" in line and perf["figure"] < 0


def test_a_tie_fails_and_a_tighter_user_margin_is_applied(tmp_path):
    gaps = {"nominal": {"greedy": 0.02}}
    perf = _perf(_evidence(gaps, spread=1.0))
    assert not perf["passed"] and "tie" in perf["detail"]
    low, high = (float(x) for x in perf["detail"].split("[")[1].split("]")[0].split(","))
    assert low < 0 < high
    # with a margin of 2 return units, a clear win of 1 is not enough
    margin = tmp_path / "margin.yaml"
    margin.write_text("performance: {return_min_low: 2.0}\n")
    assert _perf(_evidence({"nominal": {"greedy": 3.0}})).get("passed")
    assert not _perf(_evidence({"nominal": {"greedy": 1.0}}), G.load_gates(margin))["passed"]


def test_oracles_are_never_gated_nor_set_the_safety_limit():
    gaps = {"nominal": {"merit_order": 1.0, "dc_opf": 0.5, "dc_opf_perfect": -4.0}}
    ev = _evidence(gaps, twin="PowerGrid-v0", oracles=["dc_opf_perfect"])
    ev["scenarios"]["nominal"]["controllers"]["dc_opf_perfect"]["cost_rate"] = 0.0
    ev["scenarios"]["nominal"]["controllers"]["policy"]["cost_rate"] = 0.04
    for b in ("merit_order", "dc_opf"):
        ev["scenarios"]["nominal"]["controllers"][b]["cost_rate"] = 0.03
    gates = {g["name"]: g for g in G.evaluate(ev, G.load_gates())}
    assert gates["performance"]["passed"] and gates["safety"]["passed"]
    assert not any("dc_opf_perfect" in c["what"] for c in gates["performance"]["checks"])
    # the same record without the oracle mark fails: the gate does test every other baseline
    ev["oracle_baselines"] = []
    assert not _perf(ev)["passed"]


def _turbine(energy_rel: float, del_gap: dict[str, float], keys=("energy_mwh", *TURBINE_LOADS)) -> dict:
    """A turbine record: the policy's energy ``energy_rel`` relative to the baseline's, each DEL of the
    policy ``del_gap[key]`` kN m above the baseline's (negative: lower loads)."""
    rng = np.random.default_rng(3)
    energy = 20.0 + 5.0 * rng.random(EPISODES)
    pol = {"energy_mwh": energy * (1 + energy_rel + 0.001 * rng.standard_normal(EPISODES))}
    base = {"energy_mwh": energy}
    for key, gap in del_gap.items():
        load = 800.0 + 100.0 * rng.random(EPISODES)
        base[key], pol[key] = load, load + gap + 5.0 * rng.standard_normal(EPISODES)
    ev = _evidence({"nominal": {"reference_controller": 0.0}}, twin="WindTurbine-v0",
                   kpis={"nominal": {"policy": pol, "reference_controller": base}}, kpi_keys=keys)
    return ev


def test_the_turbine_criterion_trades_energy_against_fatigue_loads():
    loads = {"tower_base_del_knm": -30.0, "shaft_torque_del_knm": -20.0, "blade_root_del_knm": -10.0}
    perf = _perf(_turbine(-0.002, loads))     # 0.2 % less energy, every load lower: passes
    assert perf["passed"] and perf["criterion"] == "energy_and_loads"
    assert {c["unit"] for c in perf["checks"]} == {"fraction", "kN m"} and len(perf["checks"]) == 4
    # 1 % less energy: fails on energy, even with lower loads
    perf = _perf(_turbine(-0.01, loads))
    assert not perf["passed"] and "energy_mwh policy vs reference_controller: mean relative difference -1.0" \
        in perf["detail"] and perf["figure"] == pytest.approx(-0.01, abs=5e-4)
    # equal energy but a higher tower load: fails naming the load
    perf = _perf(_turbine(0.0, {**loads, "tower_base_del_knm": 15.0}))
    assert not perf["passed"] and perf["detail"].startswith("nominal: tower_base_del_knm policy - "
                                                            "reference_controller +")
    # a load no lower than the baseline's (a tie) fails too: the interval must lie below zero
    assert not _perf(_turbine(0.0, {**loads, "shaft_torque_del_knm": 0.0}))["passed"]
    # the return is not the turbine's criterion: a lower return with the trade-off met passes
    ev = _turbine(0.0, loads)
    ev["scenarios"]["nominal"]["controllers"]["policy"]["returns"] = \
        list(np.asarray(ev["scenarios"]["nominal"]["controllers"]["reference_controller"]["returns"]) - 1.0)
    assert _perf(ev)["passed"]


def test_a_load_the_kpi_registry_lacks_is_skipped_with_a_note():
    keys = ("energy_mwh", "shaft_torque_del_knm")          # the registry before tower/blade DELs exist
    perf = _perf(_turbine(0.0, {"shaft_torque_del_knm": -20.0}, keys=keys))
    assert perf["passed"] and len(perf["checks"]) == 2
    assert "tower_base_del_knm is not in the twin's KPI registry: not checked" in perf["detail"]
    assert "blade_root_del_knm is not in the twin's KPI registry" in perf["detail"]
    # a load the registry has but the record lacks fails (no figure), it is not skipped
    ev = _turbine(0.0, {"shaft_torque_del_knm": -20.0}, keys=("energy_mwh", "shaft_torque_del_knm",
                                                                "tower_base_del_knm"))
    perf = _perf(ev)
    assert not perf["passed"] and "tower_base_del_knm of policy and reference_controller not recorded" \
        in perf["detail"]


@pytest.mark.parametrize("key, carried", [("max_regression_frac: 0.05", None),
                                          ("nominal_beat_all_baselines: 1", None),
                                          ("nominal_min_advantage: 0.5", 0.5)])
def test_an_old_gates_file_with_a_removed_key_loads_with_one_line(tmp_path, key, carried):
    old = tmp_path / "old.yaml"
    old.write_text(f"performance: {{{key}}}\nlatency: {{p99_ms: 0.8}}\n")
    said: list[str] = []
    gates = G.load_gates(old, say=said.append)
    name = key.split(":")[0]
    assert len(said) == 1 and "\n" not in said[0]
    assert said[0].startswith(f"gates file {old}: performance.{name} was removed (")
    assert gates["latency"]["p99_ms"] == 0.8 and name not in gates["performance"]
    assert gates["performance"]["return_min_low"] == (carried if carried is not None else 0.0)
    with pytest.warns(G.GatesWarning, match=f"performance.{name} was removed"):
        G.load_gates(old)


def test_an_old_bundle_judged_by_the_removed_floor_opens_but_is_not_deployable(tmp_path):
    """A validation record whose gates_config holds a removed threshold loads (inspect, report), and
    the deploy check names it in one line."""
    path = tmp_path / "bundle"
    shutil.copytree(DATA / "bundle_v1", path)
    raw = json.loads((path / B.VALIDATION_FILE).read_text())
    raw["gates_config"] = {"performance": {"nominal_min_advantage": 0.0, "max_regression_frac": 0.1}}
    sealed = B.seal({k: v for k, v in raw.items() if k != B.VALIDATION_DIGEST_KEY}, B.VALIDATION_DIGEST_KEY)
    (path / B.VALIDATION_FILE).write_bytes(B.canonical_json(sealed))
    bundle = B.load_bundle(path)
    assert bundle.validation().passed is True
    problem = B.validation_problem(bundle)
    assert problem is not None and "\n" not in problem
    assert "removed gate thresholds (performance.max_regression_frac, performance.nominal_min_advantage)" in problem
    assert problem.endswith(f"re-run `twingym validate {path}`")
