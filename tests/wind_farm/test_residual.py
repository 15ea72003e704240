"""Residual action mode: zero action is the wake-steering table, bit for bit; corrections are bounded."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.wind_farm import WindFarm
from twingym.envs.wind_farm import baselines as bl
from twingym.envs.wind_farm.residual import applied_offsets

ENV = WindFarm()
SHORT = {"max_steps": 12}          # 30 steps cross two auto-resets
ABSOLUTE = ENV.make_params(**SHORT)
RESIDUAL = ENV.make_params(action_mode="residual", **SHORT)
T, COPIES = 30, 4


ZERO, TABLE, GREEDY = 0, 1, 2   # who acts: zero action, the table baseline, the greedy baseline


@partial(jax.jit, static_argnums=(0,))
def trajectory(env, params, table_carry, who):
    """``COPIES`` vmapped copies for ``T`` steps, actions from ``who`` (traced, so each params'
    action mode compiles once): rewards, headings, observations and costs per step."""
    baselines = env.baselines()

    def act(obs):
        table = baselines["wake_steering"].act(table_carry, obs, params)[0]
        greedy = baselines["greedy"].act((), obs, params)[0]
        return jnp.select([who == TABLE, who == GREEDY], [table, greedy], jnp.zeros(9))

    def one(key):
        obs, state = env.reset(key, params)

        def body(c, k):
            obs, state = c
            obs, state, r, _, _, info = env.step(k, state, act(obs), params)
            return (obs, state), (r, state.heading, obs, info["cost"])

        return jax.lax.scan(body, (obs, state), jax.random.split(key, T))[1]

    return jax.vmap(one)(jax.random.split(jax.random.key(7), COPIES))


BASE_OBS = 4 * 9 + 5   # the absolute twin's observation; the residual twin's adds the table's offsets


def assert_same(a, b):
    """Same rewards, headings, observations (the absolute twin's components) and costs, to float32
    rounding: the two twins are two programs, and XLA may fuse their arithmetic differently. A few
    ulp of each array's largest value (a heading of 256 deg has an ulp of 3e-5 deg)."""
    for x, y in zip(a, b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape[-1:] != y.shape[-1:]:
            x, y = x[..., :BASE_OBS], y[..., :BASE_OBS]
        scale = float(np.max(np.abs(y)))
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=4 * np.finfo(np.float32).eps * scale)


def test_zero_action_is_the_table_and_baselines_keep_their_offsets():
    init = ENV.baselines()["wake_steering"].init
    absolute = partial(trajectory, ENV, ABSOLUTE, init(ABSOLUTE))
    residual = partial(trajectory, ENV, RESIDUAL, init(RESIDUAL))
    table = absolute(TABLE)
    # the residual twin with zero action follows the absolute twin driven by the table exactly
    assert_same(residual(ZERO), table)
    # ... and so does the table baseline in the residual twin (its action there is zero)
    assert_same(residual(TABLE), table)
    # greedy still faces the wind: minus the table in the residual twin, zero in the absolute one
    greedy = absolute(GREEDY)
    assert_same(residual(GREEDY), greedy)
    assert not np.array_equal(np.asarray(table[1]), np.asarray(greedy[1]))   # the table steers
    # the residual twin shows the table's offsets at each observation's site direction and speed
    obs = np.asarray(residual(ZERO)[2]).reshape(-1, BASE_OBS + 9)
    shown = jax.vmap(lambda o: bl.table_offsets(RESIDUAL.residual_table, o[36], o[39], 25.0))(obs)
    np.testing.assert_allclose(obs[:, BASE_OBS:], np.asarray(shown), atol=1e-4)  # float32 round-off
    assert ENV.observation_space(RESIDUAL).shape == (BASE_OBS + 9,)
    assert len(ENV.observation_labels(RESIDUAL)) == BASE_OBS + 9
    np.testing.assert_array_equal(np.asarray(RESIDUAL.residual_table), bl.wake_steering_table(RESIDUAL))
    assert ABSOLUTE.residual_table is None


def test_correction_is_bounded_and_added_to_the_table():
    lim = RESIDUAL.max_yaw_offset
    keys = jax.random.split(jax.random.key(3), 3)
    sites = jnp.stack([jax.random.uniform(keys[0], (256,), minval=0.0, maxval=360.0),
                       jax.random.uniform(keys[1], (256,), minval=3.0, maxval=15.0)], axis=1)
    actions = jax.random.uniform(keys[2], (256, 9), minval=-3 * lim, maxval=3 * lim)
    applied = np.asarray(jax.vmap(applied_offsets, in_axes=(None, 0, 0))(RESIDUAL, sites, actions))
    table = np.asarray(jax.vmap(lambda s: bl.table_offsets(RESIDUAL.residual_table, s[0], s[1], lim))(sites))
    assert np.abs(applied).max() <= lim and np.abs(applied - table).max() <= lim + 1e-4
    np.testing.assert_allclose(applied, np.clip(table + np.clip(np.asarray(actions), -lim, lim), -lim, lim),
                               atol=1e-5)
    assert np.abs(table).max() > 10.0   # the table steers, so the box around it matters


def test_table_follows_the_fields_it_depends_on():
    same = ENV.replace_params(RESIDUAL, sensor_noise=3.0)
    assert same.residual_table is RESIDUAL.residual_table
    lighter = ENV.replace_params(RESIDUAL, load_weight=0.0)
    np.testing.assert_array_equal(np.asarray(lighter.residual_table), bl.wake_steering_table(lighter))
    assert not np.array_equal(np.asarray(lighter.residual_table), np.asarray(RESIDUAL.residual_table))
    assert ENV.replace_params(RESIDUAL, action_mode="absolute").residual_table is None
