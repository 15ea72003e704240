"""Residual action mode: zero action is the bottleneck rule bit for bit, every baseline keeps its
trajectory, every absolute action stays reachable."""

from functools import partial
from itertools import product

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import twingym.envs as twin_envs
from twingym.envs.assembly_cell import observation as ob
from twingym.envs.assembly_cell.baselines import bottleneck_aware_action
from twingym.envs.assembly_cell.residual import applied_action, to_override

ENV, ABSOLUTE = twin_envs.make("AssemblyCell-v0", max_steps=24)     # 60 steps cross two auto-resets
RESIDUAL = ENV.make_params(max_steps=24, action_mode="residual")
T, COPIES, M = 60, 8, 5
BASE_OBS = ob.obs_size(M)
NAMES = tuple(ENV.baselines())


ZERO = len(NAMES)   # who acts: a baseline's index in NAMES, or ZERO for the zero action


@partial(jax.jit, static_argnums=(0,))
def trajectory(env, params, who):
    """``COPIES`` copies for ``T`` steps driven by baseline ``NAMES[who]`` or the zero action
    (``who`` traced, so each params' action mode compiles once): per step the reward, the
    observation, the cell's state (without the rule's action) and the info."""
    baselines = [env.baselines()[name] for name in NAMES]

    def one(key):
        obs, state = env.reset(key, params)
        carries = tuple(b.init(params) for b in baselines)

        def body(c, k):
            obs, state, carries = c
            acts = [b.act(carry, obs, params) for b, carry in zip(baselines, carries, strict=True)]
            actions = jnp.stack([a for a, _ in acts] + [jnp.zeros((2 * M,), jnp.int32)])
            obs, state, r, _, _, info = env.step(k, state, actions[who], params)
            shown = state.replace(rule_action=jnp.zeros(2 * M, jnp.int32))
            return (obs, state, tuple(c for _, c in acts)), (r, obs, shown, info)

        return jax.lax.scan(body, (obs, state, carries), jax.random.split(key, T))[1]

    return jax.vmap(one)(jax.random.split(jax.random.key(11), COPIES))


def assert_same(a, b):
    """Same rewards, observations (the absolute twin's components, also of ``final_observation``),
    states and infos."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            x, y = x[..., :BASE_OBS], y[..., :BASE_OBS]
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def absolute():
    return {name: trajectory(ENV, ABSOLUTE, i) for i, name in enumerate(NAMES)}


def test_zero_action_is_the_bottleneck_rule(absolute):
    rule = absolute["bottleneck_aware"]
    zero = trajectory(ENV, RESIDUAL, ZERO)
    assert_same(zero, rule)
    # the rule acts differently from nominal speed with threshold maintenance (so the test can tell)
    assert not np.array_equal(np.asarray(rule[0]), np.asarray(absolute["wear_threshold"][0]))
    # the residual observation ends with the rule's action at the observation before it
    obs = np.asarray(zero[1]).reshape(-1, BASE_OBS + 2 * M)
    shown = jax.vmap(bottleneck_aware_action, in_axes=(0, None))(jnp.asarray(obs[:, :BASE_OBS]), RESIDUAL)
    np.testing.assert_array_equal(obs[:, BASE_OBS:], np.asarray(shown, np.float32))
    assert {0, 1} <= set(obs[:, BASE_OBS + 1::2].ravel().tolist())                     # it maintains
    assert {1, 2, 3} <= set(obs[:, BASE_OBS::2].ravel().tolist())                       # eco..boost


@pytest.mark.parametrize("name", NAMES)
def test_every_baseline_keeps_its_trajectory(absolute, name):
    assert_same(trajectory(ENV, RESIDUAL, NAMES.index(name)), absolute[name])


def test_every_absolute_action_is_reachable_and_overrides_mean_what_they_say():
    rules = jnp.asarray(list(product(range(4), range(2))), jnp.int32)   # every rule choice
    for r in rules:
        rule = jnp.tile(r, 5)
        for a in product(range(4), range(2)):
            absolute_action = jnp.tile(jnp.asarray(a, jnp.int32), 5)
            np.testing.assert_array_equal(applied_action(RESIDUAL, rule, to_override(absolute_action)),
                                          absolute_action)
        for s, mt in product(range(5), range(3)):
            got = np.asarray(applied_action(RESIDUAL, rule, jnp.tile(jnp.asarray([s, mt]), 5))).reshape(5, 2)
            assert (got[:, 0] == (int(r[0]) if s == 0 else s - 1)).all()
            assert (got[:, 1] == (int(r[1]) if mt == 0 else int(mt == 2))).all()


def test_spaces_labels_and_bad_mode():
    assert ENV.observation_space(RESIDUAL).shape == (BASE_OBS + 2 * M,)
    assert list(ENV.action_space(RESIDUAL).nvec) == [5, 3] * M
    assert list(ENV.action_space(ABSOLUTE).nvec) == [4, 2] * M
    labels = ENV.observation_labels(RESIDUAL)
    assert len(labels) == BASE_OBS + 2 * M and labels[-1].name == "rule_maintain"
    assert [lab.name for lab in ENV.action_labels(RESIDUAL)[:2]] == ["speed_override", "maintain_override"]
    with pytest.raises(ValueError, match="absolute, residual"):
        ENV.make_params(action_mode="resdiual")
