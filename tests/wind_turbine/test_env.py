"""WindTurbine-v0 behaviour: scenarios, labels, render, reward, cost, termination, baseline."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import twingym.envs as twin_envs
from twingym.envs.wind_turbine.env import HISTORY_ROWS

from .conftest import rollout

STEPS, BATCH = 700, 8  # one shape for every rollout: a single compilation per policy


def keys(n, seed=0):
    return jax.random.split(jax.random.key(seed), n)


def test_registered_and_gymnasium_make(env):
    assert "WindTurbine-v0" in twin_envs.registered()
    made, _ = twin_envs.make("WindTurbine-v0")
    assert made.reference_baseline in made.baselines()
    gym_env = gymnasium.make("twingym/WindTurbine-v0")
    obs, _ = gym_env.reset(seed=0)
    obs, reward, _, _, _ = gym_env.step(np.zeros(2, np.float32))
    assert obs.shape == (8,) and np.isfinite(reward)
    gym_env.close()


def test_labels_cover_observation_and_action(env, params):
    obs_labels, act_labels = env.observation_labels(params), env.action_labels(params)
    assert len(obs_labels) == env.observation_space(params).shape[0] == 8
    assert len(act_labels) == env.action_space(params).shape[0] == 2
    assert {lab.asset for lab in obs_labels} == {"turbine", "twin"}
    assert {lab.asset for lab in act_labels} == {"turbine"}
    assert obs_labels[0].unit == "rpm" and obs_labels[4].unit == "MW" and obs_labels[7].asset == "twin"


def test_scenarios_build_and_change_what_they_say(env):
    scenarios = env.scenarios()
    assert {"nominal", "sensor_noise_x3", "gust", "wind_ramp", "high_turbulence",
            "cp_surface_shift"} <= set(scenarios)
    assert scenarios["nominal"] == {}
    built = {name: env.make_params(**ov) for name, ov in scenarios.items()}
    nominal, _ = rollout(env, built["nominal"], keys(BATCH), "baseline", STEPS)
    turbulent, _ = rollout(env, built["high_turbulence"], keys(BATCH), "baseline", STEPS)
    # wind standard deviation within one-minute windows relative to the mean: about doubled
    # (episodes that ended early are left out: the reset changes the mean wind)
    def ti(out):
        wind_trace = out["wind"][:, :600]                     # the first episode (2 minutes)
        whole = ~out["terminated"][:, :600].any(axis=1)
        return np.mean((np.std(wind_trace, axis=1) / np.mean(wind_trace, axis=1))[whole])

    assert 1.5 < ti(turbulent) / ti(nominal) < 2.5
    ramp, _ = rollout(env, built["wind_ramp"], keys(BATCH), "baseline", STEPS)
    assert np.mean(ramp["wind"][:, 550:600]) - np.mean(ramp["wind"][:, :50]) > 3.0
    # the shifted surface starts episodes at its own (faster-turning at the same wind) equilibrium
    shifted = built["cp_surface_shift"]
    assert float(shifted.cp_scale) == 0.92 and not np.allclose(shifted.ss_pitch, nominal_pitch(env))


def nominal_pitch(env):
    return np.asarray(env.default_params().ss_pitch)


def test_gust_scenario_produces_an_extreme_operating_gust(env):
    p = env.make_params(gust_scale=1.0, turbulence_intensity=0.0)
    out, _ = rollout(env, p, keys(BATCH), "baseline", STEPS)
    wind_trace = out["wind"][:, :600]
    rise = wind_trace.max(axis=1) - wind_trace[:, 0]
    dip = wind_trace[:, 0] - wind_trace.min(axis=1)
    assert np.all(rise > 0) and np.all(dip > 0)
    np.testing.assert_allclose(rise / (rise + dip), 0.74 / 1.008, atol=0.02)


def test_reference_controller_beats_random_and_holds_speed(env, params):
    base, _ = rollout(env, params, keys(BATCH), "baseline", STEPS)
    rand, _ = rollout(env, params, keys(BATCH), "random", STEPS)
    assert base["reward"].mean() > rand["reward"].mean() + 0.3
    assert not base["terminated"].any()
    rated_rpm = params.rated_gen_speed / params.gearbox_ratio * 30 / np.pi
    speed = base["rotor_speed"] * 30 / np.pi
    assert np.percentile(speed, 99) < 1.1 * rated_rpm and np.max(speed) < 1.2 * rated_rpm
    assert base["cost"].mean() < 0.02 and rand["cost"].mean() >= 0.0
    assert np.mean(base["power_error"]) < 0.06


def test_idle_generator_overspeeds_terminates_and_costs(env, params):
    p = params.replace(wind_mean_min=16.0, wind_mean_max=16.0)
    out, _ = rollout(env, p, keys(BATCH), "idle", STEPS)
    assert out["terminated"].any(axis=1).all()
    first = np.argmax(out["terminated"], axis=1)
    for i, t in enumerate(first):
        assert out["cost"][i, t] >= 1.0 and out["reward"][i, t] < -5.0   # overspeed + shutdown penalty
        assert out["obs"][i, t, 7] == 0.0                                 # auto-reset: a new episode


def test_sensor_noise_scales_the_measurement_noise(env, params):
    quiet = params.replace(turbulence_intensity=0.0, wind_mean_min=15.0, wind_mean_max=15.0)

    def noise_std(p):
        out, _ = rollout(env, p, keys(BATCH), "baseline", STEPS)
        return np.std(out["obs"][:, 100:600, 0] - out["rotor_speed"][:, 100:600] * 30 / np.pi)

    ratio = noise_std(env.replace_params(quiet, sensor_noise=3.0)) / noise_std(quiet)
    assert ratio == pytest.approx(3.0, rel=0.2)


def test_baseline_restarts_bumplessly_after_auto_reset(env, params):
    """Across episode boundaries (auto-reset) the controller restarts from the new episode's state:
    no pitch transient at the start of a later episode."""
    p = params.replace(wind_mean_min=18.0, wind_mean_max=18.0, turbulence_intensity=0.0)
    p = env.replace_params(p, sensor_noise=0.0)
    out, _ = rollout(env, p, keys(BATCH), "baseline", STEPS)   # 600-step episodes: one reset at 600
    pitch = np.rad2deg(out["pitch"])
    assert out["truncated"][:, 599].all()
    assert np.max(np.abs(pitch[:, 601:620] - pitch[:, 600:601])) < 0.2   # settled from its first step


def test_render_shows_the_last_minute(env, params):
    _, state = rollout(env, params, keys(BATCH), "baseline", STEPS)
    one = jax.tree.map(lambda x: x[0], state)
    image = env.render(one, params)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert 200 <= image.shape[0] <= 800 and 200 <= image.shape[1] <= 800
    assert image.std() > 10   # not blank
    from twingym.envs.wind_turbine.render import ordered_history

    times, samples = ordered_history(one, params)
    assert int(one.time) == STEPS - params.max_steps        # second episode, 100 steps (20 s) in
    assert samples.shape == (len(HISTORY_ROWS), 21) and times[-1] == 0.0 and times[0] == -20.0
    assert np.all(np.diff(times) == 1.0)
    # the newest sample is the current rotor speed
    assert samples[0, -1] == pytest.approx(float(one.omega) * 30 / np.pi, rel=1e-5)


def test_reset_starts_near_equilibrium(env, params):
    """Fresh episodes start at the controller's operating point: no start-up transient."""
    p = env.replace_params(params, turbulence_intensity=0.0, sensor_noise=0.0)
    out, _ = rollout(env, p, keys(BATCH), "baseline", STEPS)
    speed = out["rotor_speed"]
    assert np.max(np.abs(speed[:, 49] - speed[:, 0]) / speed[:, 0]) < 0.01   # 10 s in
    assert jnp.all(jnp.isfinite(out["reward"]))


def test_residual_mode_zero_correction_is_the_reference_controller(env, params):
    """``action_mode="residual"``: the twin applies the reference controller itself (the baseline's
    own action there is zero), reproducing the rate-mode reference trajectories."""
    residual = env.make_params(action_mode="residual")
    rate, _ = rollout(env, params, keys(BATCH), "baseline", STEPS)
    res, _ = rollout(env, residual, keys(BATCH), "baseline", STEPS)
    np.testing.assert_allclose(res["pitch"], rate["pitch"], atol=1e-4)
    np.testing.assert_allclose(res["gen_torque"], rate["gen_torque"], rtol=1e-4, atol=1.0)
    np.testing.assert_allclose(res["reward"], rate["reward"], atol=1e-3)
    labels = env.action_labels(residual)
    assert [lab.name for lab in labels] == ["torque_correction", "pitch_correction"]


def test_residual_mode_correction_shifts_the_commands_within_rate_limits(env):
    p = env.make_params(action_mode="residual", wind_mean_min=15.0, wind_mean_max=15.0,
                        turbulence_intensity=0.0, sensor_noise=0.0)
    k_reset, k_step = keys(2, seed=3)
    _, state = env.reset(k_reset, p)
    _, zero, *_ = env.step(k_step, state, jnp.array([0.0, 0.0]), p)
    _, half, *_ = env.step(k_step, state, jnp.array([0.5, -0.5]), p)
    _, full, *_ = env.step(k_step, state, jnp.array([1.0, 1.0]), p)
    np.testing.assert_allclose(half.torque_setpoint - zero.torque_setpoint, 0.5 * p.residual_torque, rtol=1e-4)
    np.testing.assert_allclose(half.pitch_setpoint - zero.pitch_setpoint, -0.5 * p.residual_pitch, atol=1e-6)
    # a correction larger than the per-step rate limit is held to it (rate-mode command set)
    big = p.replace(residual_torque=4.0 * p.max_torque_rate * p.dt, residual_pitch=4.0 * p.pitch_cmd_rate * p.dt)
    _, capped, *_ = env.step(k_step, state, jnp.array([1.0, 1.0]), big)
    assert float(capped.pitch_setpoint - state.pitch_setpoint) == pytest.approx(p.pitch_cmd_rate * p.dt, rel=1e-4)
    assert float(full.pitch_setpoint) > float(zero.pitch_setpoint)
