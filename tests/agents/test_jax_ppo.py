"""Pure-JAX PPO: heads against independent references, running statistics, the transfer guard, sharding,
and the exported PolicySpec against the JAX policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from twingym.agents.jax_ppo import (
    ActionHead,
    JaxPolicy,
    JaxPPOParams,
    action_head,
    entropy,
    log_prob,
    make_train,
    plan,
    to_env_action,
)
from twingym.agents.networks import init_mlp, mlp_apply
from twingym.agents.normalization import RunningStats
from twingym.envs import make

TINY = dict(num_envs=4, rollout_steps=8, num_minibatches=2, num_epochs=1, updates_per_chunk=2,
            hidden_sizes=[16, 16])


def test_gaussian_log_prob_and_entropy_match_scipy():
    head = ActionHead("gaussian", 3, (3,), np.full(3, -1.0, np.float32), np.full(3, 1.0, np.float32))
    rng = np.random.default_rng(0)
    mean, x = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    log_std = np.array([-0.5, 0.0, 0.3], np.float32)
    want = stats.norm(mean, np.exp(log_std)).logpdf(x).sum(-1)
    np.testing.assert_allclose(log_prob(head, jnp.asarray(mean), jnp.asarray(log_std), jnp.asarray(x)), want,
                               rtol=1e-5)
    ent = stats.norm(0, np.exp(log_std)).entropy().sum()
    np.testing.assert_allclose(entropy(head, jnp.asarray(mean), jnp.asarray(log_std)), np.full(5, ent), rtol=1e-5)


def test_multi_discrete_log_prob_and_entropy_match_scipy():
    head = ActionHead("multi", 5, (2,), nvec=(2, 3))
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 5)).astype(np.float32)
    actions = np.array([[0, 2], [1, 0], [1, 1], [0, 0]])
    p1 = np.exp(logits[:, :2]) / np.exp(logits[:, :2]).sum(-1, keepdims=True)
    p2 = np.exp(logits[:, 2:]) / np.exp(logits[:, 2:]).sum(-1, keepdims=True)
    want = np.log(p1[np.arange(4), actions[:, 0]]) + np.log(p2[np.arange(4), actions[:, 1]])
    np.testing.assert_allclose(log_prob(head, jnp.asarray(logits), None, jnp.asarray(actions)), want, rtol=1e-5)
    np.testing.assert_allclose(entropy(head, jnp.asarray(logits), None),
                               stats.entropy(p1, axis=-1) + stats.entropy(p2, axis=-1), rtol=1e-5)


def test_scaled_gaussian_action_stays_in_bounds():
    head = ActionHead("gaussian", 2, (2,), np.array([0.0, -5.0], np.float32), np.array([1.0, 5.0], np.float32))
    raw = jnp.array([[-3.0, 0.0], [0.0, 3.0], [1.0, -1.0]])
    np.testing.assert_allclose(to_env_action(head, raw), [[0.0, 0.0], [0.5, 5.0], [1.0, -5.0]])


def test_running_stats_equal_numpy_over_all_batches():
    rng = np.random.default_rng(2)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)).astype(np.float32) for n in (7, 50, 13)]
    s = RunningStats.create((4,))
    for b in batches:
        s = s.update(jnp.asarray(b))
    allx = np.concatenate(batches)
    np.testing.assert_allclose(s.mean, allx.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(s.var, allx.var(0), rtol=1e-3)


def test_plan_rounds_up_to_whole_chunks():
    hp = JaxPPOParams(num_envs=4, rollout_steps=8, updates_per_chunk=3)
    assert plan(hp, 32 * 7) == (3, 3)  # 7 updates -> 3 chunks of 3
    assert plan(hp, 10) == (1, 1)


@pytest.mark.parametrize("twin", ["ToyTank-v0", "ToyTankDiscrete-v0"])
def test_policy_spec_equals_jax_policy(twin, tmp_path):
    env, params = make(twin)
    head = action_head(env.action_space(params))
    rng = np.random.default_rng(3)
    # unit-scale output layer so actions span the clipped range; non-trivial normalisation statistics
    actor = init_mlp(jax.random.PRNGKey(3), [3, 16, 16, head.out_dim], out_scale=3.0)
    policy = JaxPolicy(actor, head, rng.normal(size=3).astype(np.float32),
                       rng.uniform(0.1, 2.0, size=3).astype(np.float32))
    policy.save(tmp_path)
    loaded = JaxPolicy.load(tmp_path)
    obs = np.asarray(jax.vmap(env.observation_space(params).sample)(jax.random.split(jax.random.PRNGKey(4), 64)))
    ours = np.asarray(loaded.act(jnp.asarray(obs)))
    np.testing.assert_array_equal(ours, np.asarray(policy.act(jnp.asarray(obs))))
    spec = loaded.policy_spec()
    np.testing.assert_allclose(spec.act(obs).reshape(ours.shape), ours, atol=1e-5)
    assert len(np.unique(ours.reshape(len(ours), -1), axis=0)) >= 3  # many distinct actions covered
    assert json.loads((tmp_path / "policy.json").read_text())["head"]["kind"] == head.kind


@pytest.fixture(scope="module")
def two_seeds():
    """One compiled two-seed PPO on ToyTank (2 chunks of 2 updates) and the actor weights after its
    first chunk from ``PRNGKey(0)``: shared by the tests below so each compiles once."""
    env, params = make("ToyTank-v0")
    tr = make_train(JaxPPOParams(**{**TINY, "num_seeds": 2}), env, params, 4 * 8 * 4)
    state, _ = tr.chunk(tr.init(jax.random.PRNGKey(0)))
    return tr, np.asarray(state.params["actor"][0]["w"])


def test_one_chunk_runs_without_host_transfers(two_seeds):
    tr, _ = two_seeds
    state = tr.init(jax.random.PRNGKey(1))
    jax.block_until_ready(state)
    with jax.transfer_guard("disallow"):
        state, metrics = tr.chunk(state)
        jax.block_until_ready(metrics)
    assert metrics["policy_loss"].shape == (2, tr.updates_per_chunk)
    assert np.all(np.asarray(state.update) == tr.updates_per_chunk)


def test_vmapped_seeds_differ_and_whole_train_equals_chunks(two_seeds):
    tr, _ = two_seeds
    state = tr.init(jax.random.PRNGKey(5))
    for _ in range(tr.num_chunks):
        state, _ = tr.chunk(state)
    whole, _ = tr.train(jax.random.PRNGKey(5))
    w_chunks, w_whole = state.params["actor"][0]["w"], whole.params["actor"][0]["w"]
    assert not np.allclose(w_chunks[0], w_chunks[1])  # the two seeds learn different weights
    np.testing.assert_allclose(w_chunks, w_whole, rtol=1e-5, atol=1e-6)


SHARD_SCRIPT = textwrap.dedent("""
    import sys, json
    sys.path.insert(0, {envs!r})
    import jax, numpy as np
    import twingym.envs as E
    E.register("ToyTank-v0", "toy_twin:ToyTank")
    from twingym.agents.jax_ppo import JaxPPOParams, make_train
    env, params = E.make("ToyTank-v0")
    hp = JaxPPOParams(num_envs=4, rollout_steps=8, num_minibatches=2, num_epochs=1, updates_per_chunk=2,
                      hidden_sizes=[16, 16], num_seeds=2)
    tr = make_train(hp, env, params, 4 * 8 * 4, shard=True)
    s, m = tr.chunk(tr.init(jax.random.PRNGKey(0)))
    out = {{"devices": jax.local_device_count(), "obs_devices": len(s.obs.sharding.device_set),
           "w": np.asarray(s.params["actor"][0]["w"]).tolist()}}
    print("RESULT" + json.dumps(out))
""")


def test_env_batch_is_sharded_across_two_host_devices(two_seeds):
    """The same run with the env batch split over two devices equals the one-device run."""
    envs_dir = str(Path(__file__).resolve().parents[1] / "envs")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SHARD_SCRIPT.format(envs=envs_dir)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert out["devices"] == 2 and out["obs_devices"] == 2
    np.testing.assert_allclose(out["w"], two_seeds[1], rtol=1e-4, atol=1e-5)


def test_scenario_mixture_steps_each_copy_with_its_own_params():
    from twingym.envs.param_mixture import mix_params

    env, base = make("ToyTank-v0")
    dry = base.replace(inflow_gain=0.0)           # a valve that gives no water
    mix = mix_params([base, dry], 4, names=["base", "dry"])
    assert mix.axes.inflow_gain == 0 and mix.axes.outflow_coeff is None  # only what differs is stacked
    keys = jax.random.split(jax.random.key(0), 4)
    _, state = jax.vmap(env.reset, in_axes=(0, mix.axes))(keys, mix.params)
    action = jnp.ones((4, 1), jnp.float32)
    _, batched, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, mix.axes))(keys, state, action, mix.params)
    for i in range(4):
        own = (base, dry)[i % 2]
        _, single, *_ = env.step(keys[i], jax.tree.map(lambda x, i=i: x[i], state), action[i], own)
        np.testing.assert_allclose(batched.level[i], single.level, rtol=1e-6)
    assert np.all(np.asarray(batched.level[1::2]) < np.asarray(state.level[1::2]))  # dry copies drain
    with pytest.raises(ValueError, match="static fields"):
        mix_params([base, base.replace(max_steps=50)], 4, names=["base", "short"])
    tr = make_train(JaxPPOParams(**TINY), env, base, 4 * 8 * 2, mixture=mix)
    state, metrics = tr.chunk(tr.init(jax.random.PRNGKey(0)))
    assert np.isfinite(np.asarray(metrics["policy_loss"])).all()


UNSPLIT_SCRIPT = """
import jax
from twingym.agents.sharding import batch_mesh
from twingym.bench.common import _scan_steps
from twingym.envs import make
env, params = make("PowerGrid-v0")
wind, _ = make("WindFarm-v0")
assert len(jax.devices()) == 2
assert batch_mesh(64, env).size == 1 and batch_mesh(64, wind).size == 2 and batch_mesh(64).size == 2
jax.block_until_ready(_scan_steps(env, params, 64, 3, jax.random.PRNGKey(0)))
print("STEPPED")
"""


def test_a_twin_that_cannot_be_split_steps_on_one_device_among_two():
    """PowerGrid's gathered flow loop is not split over host devices (it deadlocked XLA's CPU
    backend there): with two host devices its batch gets a one-device mesh and steps to the end."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", UNSPLIT_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "STEPPED" in proc.stdout, proc.stderr[-2000:]


def test_first_category_logit_sets_the_initial_probability_of_category_zero():
    env, params = make("AssemblyCell-v0", action_mode="residual")   # MultiDiscrete [5, 3] * 5
    logit = 3.0
    tr = make_train(JaxPPOParams(**TINY, init_first_category_logit=logit), env, params, 4 * 8 * 2)
    actor = jax.tree.map(lambda a: a[0], tr.init(jax.random.PRNGKey(0)).params["actor"])
    x = jax.random.normal(jax.random.PRNGKey(1), (256, tr.obs_dim))   # normalised observations
    groups = np.split(np.asarray(mlp_apply(actor, x)), np.cumsum(tr.head.nvec)[:-1], axis=-1)
    for n, logits in zip(tr.head.nvec, groups, strict=True):
        p0 = np.asarray(jax.nn.softmax(logits, axis=-1))[:, 0]
        np.testing.assert_allclose(p0, np.exp(logit) / (np.exp(logit) + n - 1), atol=0.02)
    # the default leaves every category equally likely at first
    plain = make_train(JaxPPOParams(**TINY), env, params, 4 * 8 * 2)
    bias = np.asarray(plain.init(jax.random.PRNGKey(0)).params["actor"][-1]["b"])
    np.testing.assert_array_equal(bias, 0.0)
