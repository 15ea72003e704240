"""WindFarm-v0 behaviour: yaw actuators, wake advection delay, costs, sensors, scenarios, layouts."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from twingym.envs import make
from twingym.envs.wind_farm import WindFarm, custom_layout, grid_layout, random_layout
from twingym.envs.wind_farm.layouts import DEFAULT_DIAMETER as D

ENV = WindFarm()
STEADY = {"wd_low": 270.0, "wd_high": 270.0, "ws_low": 8.0, "ws_high": 8.0, "ti_low": 0.06,
          "ti_high": 0.06, "wd_drift_std": 0.0, "wd_fluct_std": 0.0, "ws_fluct_std": 0.0,
          "gust_rate": 0.0, "sensor_noise": 0.0}


T = 10  # steps per test rollout (one shape: one compilation for every test)


@partial(jax.jit, static_argnums=(0,))
def _rollout(env, params, key, actions):
    obs, state = env.reset(key, params)

    def body(state, inp):
        k, a = inp
        obs, state, reward, _, _, info = env.step(k, state, a, params)
        return state, (state.heading, state.yaw_hist[0], state.power, obs, reward, info["cost"],
                       info["wind_direction"], info["wind_speed"])

    keys = jax.random.split(jax.random.fold_in(key, 1), actions.shape[0])
    final, outputs = jax.lax.scan(body, state, (keys, actions))
    return obs, outputs, final


def rollout(env, params, key, action):
    """``T`` steps holding ``action`` (n,) from a reset: the first obs and, per step, heading,
    misalignment, power, obs, reward, cost, wind direction, wind speed (no auto-reset: T <
    max_steps)."""
    return _rollout(env, params, key, jnp.broadcast_to(jnp.asarray(action, jnp.float32), (T, 9)))[:2]


def final_state(env, params, key, action):
    """The state after the ``T`` steps of :func:`rollout`."""
    return _rollout(env, params, key, jnp.broadcast_to(jnp.asarray(action, jnp.float32), (T, 9)))[2]


def steady_params(**extra):
    return ENV.make_params(**{**STEADY, **extra})


def test_yaw_rate_limit_and_offset_tracking():
    p = steady_params()
    _, (heading, gamma, _, obs, _, cost, *_) = rollout(ENV, p, jax.random.key(0), 20.0)
    heading = np.asarray(heading)
    turn = np.abs((np.diff(heading, axis=0) + 180.0) % 360.0 - 180.0)
    assert turn.max() <= 0.3 * 30.0 + 1e-3  # 0.3 deg/s over a 30 s step
    np.testing.assert_allclose(np.asarray(gamma)[-1], 20.0, atol=1e-3)  # reached the setpoint
    np.testing.assert_allclose(np.asarray(obs)[-1, 2:36:4], 20.0, atol=1e-3)  # measured offset
    assert np.all(np.asarray(cost) == 0.0)


@pytest.mark.parametrize("delay", [0.0, 1.0])
def test_wake_advection_delay(delay):
    """Yawing the front column changes the second column's power only after dx / U."""
    p = steady_params(wake_delay=delay)
    steer = jnp.zeros(9).at[0::3].set(25.0)   # front column (x = 0) steers
    _, (_, _, p_steer, *_) = rollout(ENV, p, jax.random.key(1), steer)
    _, (_, _, p_greedy, *_) = rollout(ENV, p, jax.random.key(1), 0.0)
    second = np.asarray(p_steer)[:, 1] / np.asarray(p_greedy)[:, 1]
    lag = round(5 * D / 8.0 / 30.0)  # 5 D at 8 m/s, in 30 s steps: 3
    if delay == 0.0:
        assert second[0] > 1.01  # the wake moves as soon as the rotor turns
    else:
        np.testing.assert_allclose(second[:lag], 1.0, rtol=1e-5)
        assert second[lag] > 1.01
    assert second[-1] > 1.05  # steering pays off downstream in the end
    assert np.all(np.asarray(p_steer)[1:, 0] < np.asarray(p_greedy)[1:, 0])  # yawed rotor loses


def test_cost_counts_misalignment_beyond_limit():
    p = steady_params()
    cost = rollout(ENV, p, jax.random.key(2), 0.0)[1][5]
    assert np.all(np.asarray(cost) == 0.0)
    # the wind veers faster (0.5 deg/s) than the yaw drives turn (0.3 deg/s)
    fast = steady_params(wd_drift_rate=0.5)
    _, (_, gamma, _, _, _, cost, *_) = rollout(ENV, fast, jax.random.key(2), 0.0)
    assert np.abs(np.asarray(gamma)).max() > 30.0
    assert np.asarray(cost)[-1] == 1.0 and np.all(np.asarray(cost) >= 0.0)


def test_reward_is_power_fraction_minus_penalties():
    # the default reward subtracts the available power: <= 0, minus the losses
    _, (_, _, power, _, reward, *_) = rollout(ENV, steady_params(), jax.random.key(3), 0.0)
    assert np.all(np.asarray(reward) < 0.0) and np.all(np.asarray(reward) > -0.5)
    p = steady_params(available_power_baseline=0.0)
    _, (_, _, power, _, reward, *_) = rollout(ENV, p, jax.random.key(3), 0.0)
    frac = np.asarray(power).sum(1) / (9 * 5e6)
    # aligned and still: no travel after the first steps, tiny misalignment
    np.testing.assert_allclose(np.asarray(reward)[2:], frac[2:], atol=2e-3)
    _, (_, _, power_s, _, reward_s, *_) = rollout(ENV, p, jax.random.key(3), 25.0)
    frac_s = np.asarray(power_s).sum(1) / (9 * 5e6)
    assert np.all(np.asarray(reward_s) < frac_s - 0.0015)  # load penalty at 25 deg
    assert np.all(np.asarray(reward_s)[:2] < frac_s[:2] - 0.005)  # travel while turning


def test_sensor_noise_scales_and_curve_shift_lowers_power():
    keys = jax.random.split(jax.random.key(4), 256)

    def ws_error(params):
        obs, state = jax.vmap(ENV.reset, in_axes=(0, None))(keys, params)
        return np.std(np.asarray(obs[:, 1] - state.rotor_speed[:, 0]))

    nominal = ENV.make_params()
    x3 = ENV.make_params(**ENV.scenarios()["sensor_noise_x3"])
    assert ws_error(x3) == pytest.approx(3 * ws_error(nominal), rel=0.25)
    assert ws_error(nominal) == pytest.approx(0.3, rel=0.25)

    shifted = steady_params(**ENV.scenarios()["turbine_curve_shift"])
    power = np.asarray(rollout(ENV, steady_params(), jax.random.key(5), 0.0)[1][2])
    power_s = np.asarray(rollout(ENV, shifted, jax.random.key(5), 0.0)[1][2])
    np.testing.assert_allclose(power_s, 0.95 * power, rtol=1e-5)


def test_scenarios_are_param_overrides():
    scen = ENV.scenarios()
    assert set(scen) == {"nominal", "sensor_noise_x3", "gusts", "direction_ramp",
                         "high_turbulence", "turbine_curve_shift", "direction_swing", "slow_yaw",
                         "slow_wake_advection"}
    for overrides in scen.values():
        ENV.make_params(**overrides)
    ramp = ENV.make_params(**scen["direction_ramp"])
    assert float(ramp.wd_drift_rate) * 3600 == pytest.approx(30.0)


def test_gusts_and_direction_ramp_move_the_wind():
    base = steady_params()
    wd = np.asarray(rollout(ENV, base.replace(wd_drift_rate=30.0 / 3600.0), jax.random.key(6), 0.0)[1][6])
    np.testing.assert_allclose(np.diff(wd), 30.0 / 3600.0 * 30.0, atol=1e-3)  # 0.25 deg per step
    ws = np.asarray(rollout(ENV, base.replace(gust_rate=1.0 / 60.0, gust_amplitude=4.0),
                            jax.random.key(6), 0.0)[1][7])
    assert ws.max() > 8.5 and np.all(ws >= 8.0)  # gust bumps on the steady 8 m/s


def test_layout_generators():
    x, y = grid_layout(2, 4, 6.0)
    assert x.shape == (8,) and np.isclose(np.diff(np.unique(x)), 6 * D).all()
    x, y = random_layout(10, min_spacing_d=4.0, seed=1)
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None]) + np.eye(10) * 1e9
    assert d.min() >= 4.0 * D - 1e-3
    with pytest.raises(ValueError, match="closer than"):
        custom_layout([0.0, 10.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="same non-zero length"):
        custom_layout([0.0, 1000.0], [0.0])


def test_make_with_layout_options_changes_shapes():
    env, p = make("WindFarm-v0", layout="random", n_turbines=5, min_spacing_d=4.0, sensor_noise=2.0)
    assert p.n_turbines == 5 and float(p.sensor_noise) == 2.0
    assert env.observation_space(p).shape == (4 * 5 + 5,) and env.action_space(p).shape == (5,)
    labels = env.observation_labels(p)
    assert len(labels) == 25 and {lab.asset for lab in labels} == {f"turbine_{j}" for j in range(5)} | {"site"}
    _, p2 = make("WindFarm-v0", layout_x=[0.0, 700.0, 1400.0], layout_y=[0.0, 0.0, 0.0])
    assert p2.n_turbines == 3
    with pytest.raises(ValueError, match="unknown layout"):
        make("WindFarm-v0", layout="hexagon")
    with pytest.raises(ValueError, match="unknown"):
        make("WindFarm-v0", not_a_param=1.0)


def test_render_shows_wakes():
    from twingym.envs.wind_farm.render import hub_height_field

    p = steady_params()
    state = final_state(ENV, p, jax.random.key(7), 0.0)
    _, _, u = hub_height_field(state, p)
    assert np.isfinite(u).all() and u.min() < 0.8 * 8.0 and u.max() > 0.95 * 8.0
    img = ENV.render(state, p)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 10
