"""Validation end to end on the ToyTank twin: a good policy passes, a degraded one fails with the
failing gates named; paired rollouts agree with an independent step-by-step loop; gates and suites."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from specs import random_spec
from twingym.agents.policy_spec import DenseLayer, PolicySpec
from twingym.envs import make
from twingym.policies import bundle as B
from twingym.policies import gates as G
from twingym.policies.latency import summarize_rounds
from twingym.policies.onnx_export import export_bytes
from twingym.policies.report import latency_text
from twingym.policies.runtime import OnnxPolicy
from twingym.policies.scenarios import (
    Corruption,
    SuiteError,
    default_suite,
    load_suite,
    save_suite,
    suite_from_dict,
)
from twingym.policies.validate import Engine, fuzz_check, validate_bundle


def p_control_spec() -> PolicySpec:
    """ToyTank's own P-controller, clip(0.5 + 2 (reference - level), 0, 1), written as a PolicySpec."""
    layer = DenseLayer(np.array([[-2.0], [2.0], [0.0]], np.float32), np.array([0.5], np.float32))
    return PolicySpec(obs_dim=3, obs_mean=np.zeros(3, np.float32), obs_var=np.ones(3, np.float32),
                      layers=[layer], action_transform="clip", action_low=np.zeros(1, np.float32),
                      action_high=np.ones(1, np.float32), obs_epsilon=0.0)


def test_good_policy_passes_every_gate(validated_good):
    path, outcome = validated_good
    assert outcome.passed, outcome.failed_gates
    names = [g["name"] for g in outcome.record.gates]
    assert names == ["equivalence", "performance", "safety", "robustness", "fuzz", "latency"]
    for g in outcome.record.gates:
        assert g["passed"] and g["checks"]
    scen = outcome.record.scenarios
    assert {"nominal", "sensor_noise_x3", "sensor_dropout"} <= set(scen)
    nominal = scen["nominal"]["controllers"]
    assert nominal["policy"]["mean_return"] > nominal["p_control"]["mean_return"]
    assert len(nominal["policy"]["returns"]) == 32
    # the paired table: policy minus the baseline on every scenario, each interval above zero
    assert [(r["scenario"], r["baseline"], r["verdict"], r["oracle"]) for r in outcome.record.paired] == \
        [(name, "p_control", "beats", False) for name in scen]
    perf = next(g for g in outcome.record.gates if g["name"] == "performance")
    assert perf["criterion"] == "return" and len(perf["checks"]) == len(scen)
    # the record is sealed into the bundle, bound to this policy, and the report is there
    record = B.require_validated(B.load_bundle(path))
    assert record.passed is True
    html = (path / "report.html").read_text()
    assert "PASSED" in html and html.count("data:image/png;base64") >= 3 and "<th>verdict</th>" in html


def test_degraded_policy_fails_naming_the_gates(degraded_bundle, tmp_path):
    import shutil
    path = tmp_path / "degraded"
    shutil.copytree(degraded_bundle, path)
    outcome = validate_bundle(path)
    assert not outcome.passed
    assert "performance" in outcome.failed_gates
    assert {"equivalence", "fuzz", "latency"}.isdisjoint(outcome.failed_gates)
    with pytest.raises(B.BundleError, match=r"failed validation gates: .*performance"):
        B.require_validated(B.load_bundle(path))
    assert "FAILED" in (path / "report.html").read_text()


@pytest.fixture(scope="module")
def tank_engine():
    """An engine running ToyTank's P-controller both as the ONNX policy and as the baseline."""
    env, params = make("ToyTank-v0")
    policy = OnnxPolicy(export_bytes(p_control_spec()), action_shape=(1,))
    return env, params, Engine(env, params, policy, env.baselines())


def test_paired_rollouts_match_an_independent_loop(tank_engine):
    """The engine's returns for a policy equal to the baseline equal the baseline's (common random
    numbers), and both equal a plain step-by-step loop written from the documented key scheme."""
    env, params, engine = tank_engine
    episodes, horizon, seed = 4, 60, 3
    runs, _ = engine.run(params, episodes=episodes, horizon=horizon, seed=seed, corruption=Corruption())
    np.testing.assert_allclose(runs["policy"].returns, runs["p_control"].returns, rtol=1e-4)
    k_reset, k_steps = jax.random.split(jax.random.PRNGKey(seed))
    reset_keys, ep_keys = jax.random.split(k_reset, episodes), jax.random.split(k_steps, episodes)
    act = jax.jit(env.baselines()["p_control"].act)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    for e in range(episodes):
        obs, state = reset(reset_keys[e], params)
        total = 0.0
        for t in range(horizon):
            action, _ = act((), obs, params)
            obs, state, reward, term, trunc, _ = step(jax.random.fold_in(ep_keys[e], t), state, action, params)
            total += float(reward)
            if bool(term) or bool(trunc):
                break
        assert runs["p_control"].returns[e] == pytest.approx(total, rel=1e-5)
    assert runs["policy"].fallback_frac == 0.0


def test_dropout_corruption_reaches_the_policy_and_triggers_fallback(tank_engine):
    _, params, engine = tank_engine
    heavy = Corruption(nonfinite_prob=0.5, stale_prob=0.1, stale_steps=3)
    runs, obs = engine.run(params, episodes=4, horizon=60, seed=0, corruption=heavy, collect=500)
    assert runs["policy"].fallback_frac > 0.0
    assert np.all(np.isfinite(obs)) and np.all((obs >= 0) & (obs <= 2))  # what the policy saw was sanitised
    for run in runs.values():
        assert np.all(np.isfinite(run.returns))


def test_fuzz_catches_a_graph_that_emits_nan():
    """Huge weights and no observation clip: extreme but finite readings give inf - inf = NaN."""
    big = np.full((3, 2), 1e30, np.float32) * np.array([1.0, -1.0], np.float32)
    spec = PolicySpec(3, np.zeros(3, np.float32), np.ones(3, np.float32),
                      [DenseLayer(big, np.zeros(2, np.float32)), DenseLayer(np.ones((2, 1), np.float32),
                                                                            np.zeros(1, np.float32))],
                      "clip", np.zeros(1, np.float32), np.ones(1, np.float32), obs_clip=float("inf"))
    env, params = make("ToyTank-v0")
    low, high = env.observation_space(params).low_array, env.observation_space(params).high_array
    broken = fuzz_check(OnnxPolicy(export_bytes(spec)), env.action_space(params), low, high)
    assert broken["raw_finite_failures"] > 0 and broken["ok"] < broken["n"]
    sound = fuzz_check(OnnxPolicy(export_bytes(p_control_spec())), env.action_space(params), low, high)
    assert sound["ok"] == sound["n"]


def _evidence(policy_returns, baseline_returns, cost=0.0):
    scen = {}
    for name, kind in (("nominal", "nominal"), ("sensor_dropout", "dropout")):
        scen[name] = {"kind": kind, "controllers": {
            "policy": {"returns": policy_returns[name], "cost_rate": cost},
            "base": {"returns": baseline_returns[name], "cost_rate": 0.01}}}
    return {"scenarios": scen, "equivalence": [{"reference": "ref", "metric": "max_abs_error_frac", "value": 1e-7,
                                                "n": 10}],
            "fuzz": {"ok": 10, "n": 10}, "latency": {"p99_ms": 0.05, "n": 10}}


def test_gate_verdicts_and_figures():
    gates = G.load_gates()
    ok = G.evaluate(_evidence({"nominal": [10.0, 12.0], "sensor_dropout": [9.0, 10.0]},
                              {"nominal": [9.0, 11.0], "sensor_dropout": [8.0, 9.0]}), gates)
    assert all(g["passed"] for g in ok)
    perf = next(g for g in ok if g["name"] == "performance")
    assert perf["figure"] == pytest.approx(1.0) and perf["op"] == ">"  # low end of the paired interval
    bad = G.evaluate(_evidence({"nominal": [10.0, 12.0], "sensor_dropout": [2.0, 3.0]},
                               {"nominal": [9.0, 11.0], "sensor_dropout": [8.0, 9.0]}, cost=0.2), gates)
    failed = {g["name"] for g in bad if not g["passed"]}
    assert failed == {"performance", "safety", "robustness"}
    rob = next(g for g in bad if g["name"] == "robustness")
    assert rob["figure"] == pytest.approx(2.5) and rob["threshold"] == pytest.approx(11.0 - 0.25 * 11.0)


# recorded latency evidence (milliseconds per call): a quiet machine, and one at load 9.6 on 2 cores where
# other processes pre-empted 3 % of the calls for 12 ms each in every round
QUIET = [np.full(400, 0.05), np.r_[np.full(396, 0.05), np.full(4, 0.4)]]
LOADED = [np.r_[np.full(388, 0.05), np.full(12, 12.0)] for _ in range(5)]


def test_latency_is_the_best_round_and_a_loaded_machine_reports_it_without_gating():
    quiet = summarize_rounds(QUIET, load=0.8, cores=2)
    assert quiet["n"] == 400 and quiet["rounds"] == 2 and not quiet["loaded"]
    assert quiet["p99_ms"] == pytest.approx(0.05) and quiet["round_p99_ms"][1] > 0.05  # the quiet round counts
    assert G.latency_gate(quiet, 1.0)["passed"] and not G.latency_gate(quiet, 0.01)["passed"]

    busy = summarize_rounds(LOADED, load=9.6, cores=2)
    assert busy["loaded"] and busy["p99_ms"] == pytest.approx(12.0)
    gate = G.latency_gate(busy, 1.0)
    assert gate["passed"] and gate["figure"] == pytest.approx(12.0) and "not gated: machine loaded" in gate["detail"]
    assert "load average 9.6" in latency_text(busy) and "without gating" in latency_text(busy)
    same_busy_unloaded = summarize_rounds(LOADED, load=1.5, cores=2)  # the same figure on a quiet machine fails
    assert not G.latency_gate(same_busy_unloaded, 1.0)["passed"]
    assert "without gating" not in latency_text(same_busy_unloaded)


def test_gates_file_may_only_tighten(tmp_path):
    tight = tmp_path / "tight.yaml"
    tight.write_text("latency: {p99_ms: 0.5}\nperformance: {return_min_low: 1.0, load_max_high: -2.0}\n")
    gates = G.load_gates(tight)
    assert gates["latency"]["p99_ms"] == 0.5 and gates["performance"]["return_min_low"] == 1.0
    assert gates["performance"]["load_max_high"] == -2.0
    for loosening in ("safety: {max_cost_rate: 0.5}", "performance: {return_min_low: -1.0}",
                      "performance: {energy_min_rel_diff: -0.05}", "performance: {load_max_high: 10.0}"):
        loose = tmp_path / "loose.yaml"
        loose.write_text(loosening + "\n")
        with pytest.raises(G.GatesError, match=r"loosens (safety|performance)\."):
            G.load_gates(loose)
    typo = tmp_path / "typo.yaml"
    typo.write_text("latency: {p99: 0.5}\n")
    with pytest.raises(G.GatesError, match="no threshold 'p99'"):
        G.load_gates(typo)


def test_suite_round_trip_and_errors(tmp_path):
    env, params = make("ToyTank-v0")
    suite = default_suite(env, params, "ToyTank-v0")
    noise = suite.scenario("sensor_noise_x3")
    assert noise.scale_params == {"noise_std": 3.0} and noise.kind == "noise"
    assert suite.scenario("sensor_dropout").corruption.nonfinite_prob > 0
    save_suite(suite, tmp_path / "s.yaml")
    back = load_suite(tmp_path / "s.yaml")
    assert back.to_dict() == suite.to_dict()
    with pytest.raises(SuiteError, match="unknown key 'episode'"):
        suite_from_dict({"twin": "ToyTank-v0", "episode": 3, "scenarios": {"nominal": {}}})
    with pytest.raises(SuiteError, match="kind 'nominal'"):
        suite_from_dict({"twin": "ToyTank-v0", "scenarios": {"gust": {"params": {}}}})
    with pytest.raises(SuiteError, match=r"corruption.nonfinite_prob"):
        suite_from_dict({"twin": "ToyTank-v0", "scenarios": {"nominal": {"corruption": {"nonfinite_prob": 2}}}})


def test_discrete_policy_validates_on_a_twin_without_baselines(tmp_path):
    """MultiDiscrete heads run through the engine; with no baselines the performance gate has nothing
    to compare and says so."""
    from twingym.policies.export import export_spec
    spec = random_spec(3, "multi_argmax", nvec=(3, 5))
    path = export_spec(spec, tmp_path / "d", twin_id="ToyTankDiscrete-v0")
    suite = suite_from_dict({"twin": "ToyTankDiscrete-v0", "episodes": 4, "max_horizon": 30,
                             "scenarios": {"nominal": {}, "drop": {"kind": "dropout",
                                                                   "corruption": {"nonfinite_prob": 0.1}}}})
    outcome = validate_bundle(path, suite=suite, write=False)
    perf = next(g for g in outcome.record.gates if g["name"] == "performance")
    assert perf["passed"] and perf["detail"] == "the twin has no baselines"
    eq = next(g for g in outcome.record.gates if g["name"] == "equivalence")
    assert eq["passed"] and eq["figure"] == 0.0


def test_noise_scenario_prefers_a_global_multiplier():
    from flax import struct
    from twingym.policies.scenarios import noise_param_names

    @struct.dataclass
    class P:
        sensor_noise: float = 1.0
        wd_noise_std: float = 3.0
        gain: float = 2.0

    @struct.dataclass
    class Q:
        wd_noise_std: float = 3.0
        ws_noise_std: float = 0.3
        zero_noise: float = 0.0

    assert noise_param_names(P()) == ["sensor_noise"]
    assert noise_param_names(Q()) == ["wd_noise_std", "ws_noise_std"]


def test_validation_steps_alone_resolve_the_suite_and_refuse_unknown_baselines(good_bundle):
    from twingym.policies.validate import open_for_validation, resolve_suite, suite_baselines

    bundle, env, params, digest = open_for_validation(good_bundle)
    assert digest == bundle.manifest.twin.params_hash
    suite = resolve_suite(None, env, params, "ToyTank-v0", episodes=3, max_horizon=7)
    assert suite.episodes == 3 and suite.max_horizon == 7 and suite.scenarios[0].name == "nominal"
    with pytest.raises(B.BundleError, match="suite is for twin ToyTank-v0, the bundle's policy acts on Other-v0"):
        resolve_suite(suite, env, params, "Other-v0")
    assert set(suite_baselines(env, suite, "ToyTank-v0")) == set(env.baselines())
    suite.baselines = ["nope"]
    with pytest.raises(B.BundleError, match="suite names unknown baseline 'nope'"):
        suite_baselines(env, suite, "ToyTank-v0")
