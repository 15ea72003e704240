"""Unit tests of the live twin and deploy building blocks (no network)."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from twingym.envs import make
from twingym.live import (
    Fault,
    LiveTwin,
    SecurityConfig,
    SecurityError,
    StepRecorder,
    contract,
    is_loopback,
    read_record,
)
from twingym.live.security import plan_security
from twingym.policies.deploy import SafetyLayer, Watchdog
from twingym.policies.deploy import link as deploy_link


# ---- record -----------------------------------------------------------------------------------------
def test_record_survives_a_torn_last_line_and_appends_after_it(tmp_path):
    path = tmp_path / "r.jsonl"
    with StepRecorder(path) as rec:
        for i in range(3):
            rec.write({"event": "step", "step": i, "x": float("nan") if i == 1 else 0.5})
    with open(path, "a") as f:          # a crash in the middle of a line
        f.write('{"event":"step","step":3,"x"')
    assert [r["step"] for r in read_record(path)] == [0, 1, 2]
    assert list(read_record(path))[1]["x"] == "nan"
    with StepRecorder(path) as rec:     # a restarted server appends on a fresh line
        rec.write({"event": "start"})
    assert [r["event"] for r in read_record(path)] == ["step", "step", "step", "start"]
    # every complete line is strict JSON
    for line in path.read_text().splitlines()[:3]:
        json.loads(line)


# ---- faults -----------------------------------------------------------------------------------------
def test_fault_parsing():
    assert Fault.parse("nan@5:3") == Fault("nan", 5, 3)
    assert Fault("nan", 5, 3).active(7) and not Fault("nan", 5, 3).active(8)
    for bad in ("nan", "nan@x:1", "smoke@1:1", "nan@1:0"):
        with pytest.raises(ValueError):
            Fault.parse(bad)


# ---- the twin runtime ---------------------------------------------------------------------------------
def test_live_twin_steps_like_the_twin_and_applies_setpoints_from_the_next_step():
    twin = LiveTwin("ToyTank-v0", seed=3, record_state=False)
    env, params = make("ToyTank-v0")
    # the same key sequence stepped directly gives the same observations for the same actions
    key = jax.random.PRNGKey(3)
    key, k_reset = jax.random.split(key)
    obs, state = env.reset(k_reset, params)
    np.testing.assert_allclose(twin.obs, np.asarray(obs), rtol=1e-6)
    initial = twin.setpoints.copy()
    # the initial setpoint is the reference baseline's action on the first observation
    base, _ = env.baselines()["p_control"].act((), obs, params)
    np.testing.assert_allclose(initial, np.asarray(base), rtol=1e-6)
    actions = []
    out = twin.step()
    assert out.source == ["initial"] and out.action[0] == pytest.approx(initial[0])
    actions.append(initial)
    out = twin.step({0: 0.9})
    assert out.source == ["client"] and out.action[0] == pytest.approx(0.9)
    actions.append(np.array([0.9]))
    out = twin.step()
    assert out.source == ["held"] and out.action[0] == pytest.approx(0.9)
    actions.append(np.array([0.9]))
    out = twin.step({0: float("nan")})    # rejected: the plant keeps its last setpoint
    assert out.rejected == [0] and out.action[0] == pytest.approx(0.9)
    actions.append(np.array([0.9]))
    out = twin.step({0: 7.0})             # clipped to the action space
    assert out.action[0] == pytest.approx(1.0)
    actions.append(np.array([1.0]))
    for a in actions:
        key, k = jax.random.split(key)
        obs, state, *_ = env.step(k, state, np.asarray(a, np.float32), params)
    np.testing.assert_allclose(twin.obs, np.asarray(obs), rtol=1e-6)


def test_local_mode_runs_the_twins_baseline_and_faults_touch_only_published_data():
    twin = LiveTwin("ToyTank-v0", seed=1, faults=[Fault("nan", 2, 2)], record_state=False)
    env, params = make("ToyTank-v0")
    twin.set_mode("local")
    for _ in range(4):
        expected, _ = env.baselines()["p_control"].act((), twin.obs.astype(np.float32), params)
        out = twin.step({0: 0.0})          # client writes are ignored in local mode
        assert out.source == ["local"]
        np.testing.assert_allclose(out.action, np.asarray(expected), rtol=1e-6)
        assert np.all(np.isfinite(out.obs))
        assert np.all(np.isnan(out.published)) == (2 <= out.step < 4)


def test_unknown_scenario_and_baseline_are_refused():
    with pytest.raises(ValueError, match="no scenario"):
        LiveTwin("ToyTank-v0", scenario="hurricane")
    with pytest.raises(ValueError, match="no baseline"):
        LiveTwin("ToyTank-v0", baseline="mpc")


# ---- security ---------------------------------------------------------------------------------------
def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.8.9.10")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("192.168.1.2")


def test_security_rules(tmp_path):
    from asyncua import ua

    plan = plan_security("127.0.0.1", 4840, SecurityConfig(), "urn:x")
    assert plan.policies == [ua.SecurityPolicyType.NoSecurity]
    assert plan.tokens == [ua.AnonymousIdentityToken]
    # credentials: anonymous is not offered any more
    plan = plan_security("127.0.0.1", 4840, SecurityConfig(username="op", password="pw"), "urn:x")
    assert plan.tokens == [ua.UserNameIdentityToken]
    # non-loopback: refused without credentials and certificates, and with security mode none
    with pytest.raises(SecurityError, match="not loopback"):
        plan_security("0.0.0.0", 4840, SecurityConfig(), "urn:x")
    with pytest.raises(SecurityError, match="not loopback"):
        plan_security("10.1.2.3", 4840, SecurityConfig(username="op", password="pw", mode="none"), "urn:x")
    with pytest.raises(SecurityError, match="certificate"):
        plan_security("10.1.2.3", 4840, SecurityConfig(username="op", password="pw"), "urn:x")
    with pytest.raises(SecurityError, match="both"):
        plan_security("127.0.0.1", 4840, SecurityConfig(username="op"), "urn:x")
    # with credentials and generated certificates: Basic256Sha256 only, no None policy
    plan = plan_security("10.1.2.3", 4840, SecurityConfig(username="op", password="pw",
                                                          generate_certs=str(tmp_path)), "urn:x")
    assert ua.SecurityPolicyType.NoSecurity not in plan.policies
    assert set(plan.policies) == {ua.SecurityPolicyType.Basic256Sha256_Sign,
                                  ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt}
    assert plan.cert.is_file() and plan.key.is_file() and plan.tokens == [ua.UserNameIdentityToken]
    # --insecure: allowed, with a warning that says what is exposed
    plan = plan_security("0.0.0.0", 4840, SecurityConfig(insecure=True), "urn:x")
    assert ua.SecurityPolicyType.NoSecurity in plan.policies
    assert "WRITE every setpoint" in plan.warning and "anyone" in plan.warning


# ---- deploy building blocks ----------------------------------------------------------------------------
def test_safety_layer_clips_rate_limits_and_replaces_nan():
    layer = SafetyLayer(np.array([0.0, -10.0]), np.array([1.0, 10.0]), max_rate=0.1)
    r = layer.apply(np.array([0.95, 9.0]), previous=np.array([0.9, 0.0]))
    np.testing.assert_allclose(r.action, [0.95, 2.0])           # 0.1 * range 20 = 2 per step
    assert r.rate_limited == [1] and not r.clipped
    r = layer.apply(np.array([np.nan, 50.0]), previous=np.array([0.3, 9.5]))
    np.testing.assert_allclose(r.action, [0.3, 10.0])
    assert r.non_finite == [0] and r.clipped == [1]
    no_rate = SafetyLayer(np.zeros(1), np.ones(1), max_rate=None)
    assert no_rate.apply(np.array([0.99]), np.array([0.0])).action[0] == pytest.approx(0.99)
    discrete = SafetyLayer(np.zeros(2), np.array([2.0, 4.0]), kind="multidiscrete", max_rate=0.25)
    np.testing.assert_allclose(discrete.apply(np.array([2.4, 9.0]), np.array([2.0, 0.0])).action, [2, 1])


def test_watchdog_falls_back_at_once_and_recovers_after_healthy_steps():
    dog = Watchdog(recover_after=2)
    assert dog.update(None) is None and dog.state == "policy"
    t = dog.update("stale")
    assert t.to == "fallback" and t.reason == "stale"
    assert dog.update("stale") is None
    assert dog.update(None) is None            # one healthy step is not enough
    assert dog.update("non_finite_observation") is None
    assert dog.update(None) is None
    t = dog.update(None)
    assert t.to == "policy" and dog.fallbacks == 1


def test_deploy_runtime_keeps_the_same_address_space_contract():
    assert deploy_link.NAMESPACE_URI is contract.NAMESPACE_URI
    assert deploy_link.Snapshot is contract.Snapshot and deploy_link.TwinDescription is contract.TwinDescription
    for var in contract.DESCRIPTION_VARS + contract.SNAPSHOT_VARS + ("Step", "ControlMode"):
        assert var in contract.TWIN_VARIABLES, var
    assert deploy_link.PASSWORD_ENV == "TWINGYM_OPCUA_PASSWORD"


def test_contract_imports_no_jax():
    code = "import sys, twingym.live.contract; print(sorted(m for m in ('jax', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_snapshot_is_consistent_only_between_updates_and_decodes_in_read_order():
    desc = contract.TwinDescription(
        twin_id="t", scenario="s", server_id="x", dt=1.0, speed=2.0, action_kind="box", action_low=[0.0],
        action_high=[1.0], observation_nodes=["a/p/Measurements/m1", "a/p/Measurements/m2"],
        observation_labels=["p/m1 [kW]", "p/m2 [kW]"], setpoint_nodes=["a/p/Setpoints/s"],
        applied_nodes=["a/p/Applied/s"], baseline_nodes=["a/p/Baseline/s"], action_labels=["p/s [-]"],
        baseline_name="")
    ids = contract.snapshot_node_ids(desc)
    assert ids[0] == contract.twin_node("Publishing") and ids[-1] == contract.twin_node("Step")
    assert len(ids) == len(contract.SNAPSHOT_VARS) + 2 + 1 + 1 + 1
    head = [7, 1.5, 0, 3, 0.1, 0.0, 0.2, "nan", 9.0, "remote", "x", ""]
    snap = contract.Snapshot.from_values([*head, 1.0, 2.0, 0.5, 0.6, 7], n_obs=2, n_act=1)
    assert snap.consistent and snap.step == 7 and snap.measurements == [1.0, 2.0]
    assert snap.applied == [0.5] and snap.baseline == [0.6] and np.isnan(snap.last_episode_return)
    torn = contract.Snapshot.from_values([8, *head[1:], 1.0, 2.0, 0.5, 0.6, 7], n_obs=2, n_act=1)
    assert not torn.consistent
    layout = contract.node_layout([("p", "m", "kW"), ("p", "m", "kW")], [("p", "s", "-")])
    assert layout.measurements == ["a/p/Measurements/m", "a/p/Measurements/m_2"]
    assert layout.applied == ["a/p/Applied/s"] and layout.baseline == ["a/p/Baseline/s"]


def test_space_bounds_of_a_description_match_the_twin_action_bounds():
    from twingym.envs import spaces
    from twingym.live.twin_runtime import action_bounds

    for space in (spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 5.0], np.float32), shape=(2,)),
                  spaces.Discrete(4), spaces.MultiDiscrete((3, 2))):
        low, high, kind = action_bounds(space)
        desc = contract.space_to_json(space)
        bounds = contract.space_bounds(json.loads(json.dumps(desc)))
        assert bounds.kind == kind
        np.testing.assert_array_equal(bounds.low, low)
        np.testing.assert_array_equal(bounds.high, high)
        assert type(contract.space_from_json(desc)) is type(space)


def test_deploy_runtime_imports_neither_jax_nor_torch():
    """Import every deploy module in a fresh interpreter and report who (if anyone) imports JAX/torch."""
    code = r"""
import sys, traceback, json
culprits = {}
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in ("jax", "torch") and name not in culprits:
            culprits[name] = [f.filename for f in traceback.extract_stack()
                              if "twingym" in f.filename or "/policies/" in f.filename or "/envs/" in f.filename]
        return None
sys.meta_path.insert(0, Spy())
import twingym.policies.deploy, twingym.policies.deploy.loop
print(json.dumps({"modules": [m for m in ("jax", "torch") if m in sys.modules], "culprits": culprits}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["modules"]:
        return
    chain = [f for files in result["culprits"].values() for f in files]
    entry = next((f for f in chain if "twingym/__init__" not in f), "")
    pytest.fail(f"deploy runtime imports {result['modules']} via {entry}: {chain}")


def test_failed_or_non_finite_inference_asks_for_fallback(tank_bundle):
    """The decision step without a network: a raising or NaN-producing policy is a problem."""
    from twingym.policies.deploy import DeployConfig, Deployment
    from twingym.policies.deploy.link import Snapshot

    dep = Deployment(DeployConfig(str(tank_bundle), "opc.tcp://127.0.0.1:1/twingym/"))
    dep.obs_index, dep.act_index = np.arange(3), np.arange(1)
    snap = Snapshot(step=1, consistent=True, sim_time=1.0, episode=0, episode_step=1, last_reward=0.0,
                    last_cost=0.0, episode_return=0.0, last_episode_return=float("nan"), total_reward=0.0,
                    mode="remote", server_id="x", faults="", measurements=[0.5, 1.0, 0.1], applied=[0.4],
                    baseline=[0.6])
    ok = dep._decide(snap)
    assert ok["problem"] is None and 0.0 <= ok["safe_action"][0] <= 1.0

    class Raising:
        def act(self, obs):
            raise RuntimeError("onnxruntime: bad input")

    class Nan:
        def act(self, obs):
            return np.array([np.nan], np.float32)

    dep.policy.policy = Raising()
    bad = dep._decide(snap)
    assert bad["problem"] == "inference_failed" and bad["safe_action"] is None
    dep.policy.policy = Nan()
    assert dep._decide(snap)["problem"] == "inference_non_finite"


def test_deploy_loop_steps_count_episodes_and_server_segments_without_a_network(tank_bundle):
    """The loop's named steps on hand-made snapshots: a server restart closes the reward segment, an
    episode counts only when it started under the deployment, a step-0 server waits."""
    from twingym.policies.deploy import DeployConfig, Deployment
    from twingym.policies.deploy.link import Snapshot
    from twingym.policies.deploy.loop import LoopState

    class Log:
        def __init__(self):
            self.events = []

        def write(self, event, **fields):
            self.events.append((event, fields))

    def snap(step, episode, total, server="a", last_return=float("nan")):
        return Snapshot(step=step, consistent=True, sim_time=float(step), episode=episode, episode_step=0,
                        last_reward=0.0, last_cost=0.0, episode_return=0.0, last_episode_return=last_return,
                        total_reward=total, mode="remote", server_id=server, faults="")

    dep = Deployment(DeployConfig(str(tank_bundle), "opc.tcp://127.0.0.1:1/twingym/"))
    st, log = LoopState(), Log()
    assert dep._new_server(snap(0, 0, 0.0), st, log) is True and st.last_step == 0   # nothing to act on yet
    assert dep._new_server(snap(5, 1, 2.0, server="b"), st, log) is False
    assert log.events[0][0] == "server_restarted" and st.total_at == 2.0 and st.last_step is None
    for step, episode, ret in ((5, 1, None), (9, 2, 3.0), (14, 3, 4.5)):
        st.total_last = 2.0 + step
        dep._count_episode(snap(step, episode, st.total_last, "b", float("nan") if ret is None else ret), st)
    assert dep.summary.episode_returns == [4.5]   # episode 1 began before the deployment: not counted
    assert st.segment_reward() == 14.0
    dep.summary.steps = 3
    dep.config.steps = 3
    assert dep._steps_done() and dep._stop_reason == "steps"
