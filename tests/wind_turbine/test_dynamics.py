"""Rotor aerodynamics, actuators and the wind model against independent references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator
from scipy.signal import welch
from twingym.envs.turbines import load_rotor_performance
from twingym.envs.wind_turbine import dynamics, wind


def test_bilinear_matches_scipy_on_the_rotor_surfaces(params):
    perf = load_rotor_performance("NREL5MW")
    rng = np.random.default_rng(0)
    tsr = rng.uniform(perf.tsr[0], perf.tsr[-1], 200)
    pitch = rng.uniform(perf.pitch_deg[0], perf.pitch_deg[-1], 200)
    coeffs = jax.jit(jax.vmap(lambda x, y: dynamics.aero_coefficients(params, x, y)))(
        jnp.asarray(tsr, jnp.float32), jnp.asarray(np.deg2rad(pitch), jnp.float32))
    for table, ours in zip((perf.cp, perf.ct, perf.cq), coeffs, strict=True):
        ref = RegularGridInterpolator((perf.tsr, perf.pitch_deg), table)(np.c_[tsr, pitch])
        np.testing.assert_allclose(np.asarray(ours), ref, atol=2e-5)
    # below the grid and in pitch the surfaces are held at their edge; above the highest TSR the
    # last cell is extrapolated linearly up to 1.5 times it, then held
    j = list(perf.pitch_deg).index(0.0)
    assert float(dynamics.aero_coefficients(params, 0.5, np.deg2rad(40.0))[0]) == pytest.approx(perf.cp[0, -1], abs=1e-6)
    slope = (perf.cp[-1, j] - perf.cp[-2, j]) / (perf.tsr[-1] - perf.tsr[-2])
    for x in (perf.tsr[-1] + 1.0, 1.5 * perf.tsr[-1]):
        cp = float(dynamics.aero_coefficients(params, x, 0.0)[0])
        assert cp == pytest.approx(perf.cp[-1, j] + slope * (x - perf.tsr[-1]), abs=1e-5)
    assert float(dynamics.aero_coefficients(params, 50.0, 0.0)[0]) == pytest.approx(cp, abs=1e-6)


def test_freewheeling_rotor_runs_to_the_zero_torque_tip_speed_ratio(env, params):
    """With no generator torque the rotor accelerates until Cq(lambda, beta) = 0."""
    perf = load_rotor_performance("NREL5MW")
    pitch_deg = 10.0
    cq_col = perf.cq[:, list(perf.pitch_deg).index(pitch_deg)]
    k = int(np.nonzero((cq_col[:-1] > 0) & (cq_col[1:] <= 0))[0][0])
    tsr_zero = perf.tsr[k] + cq_col[k] / (cq_col[k] - cq_col[k + 1]) * (perf.tsr[k + 1] - perf.tsr[k])
    u = 6.0
    p = params.replace(dt=0.2)

    def body(omega, _):
        omega, *_ = dynamics.rotor_substeps(p, omega, jnp.deg2rad(pitch_deg), jnp.deg2rad(pitch_deg),
                                            jnp.float32(0.0), jnp.float32(u), 2)
        return omega, None

    omega, _ = jax.jit(lambda: jax.lax.scan(body, jnp.float32(0.5), None, length=3000))()
    assert float(omega) * params.rotor_radius / u == pytest.approx(tsr_zero, rel=0.01)


def test_pitch_actuator_lag_and_rate_limit(params):
    dt = 0.01
    step = jax.jit(lambda b, c: dynamics.pitch_actuator(b, c, dt, params))
    # small step: first-order lag, 63 % after one time constant
    beta, n_tau = jnp.float32(0.0), round(params.pitch_tau / dt)
    for _ in range(n_tau):
        beta = step(beta, jnp.deg2rad(0.5))
    assert float(beta) / np.deg2rad(0.5) == pytest.approx(1 - np.exp(-1), abs=0.02)
    # large step: rate limited at 8 deg/s, never beyond the command
    beta, trace = jnp.float32(0.0), []
    for _ in range(300):
        beta = step(beta, jnp.deg2rad(20.0))
        trace.append(float(beta))
    rates = np.diff(np.r_[0.0, trace]) / dt
    assert np.max(np.abs(rates)) <= np.deg2rad(8.0) * (1 + 1e-5)
    assert np.rad2deg(trace[99]) == pytest.approx(8.0, rel=0.01) and max(trace) <= np.deg2rad(20.0) + 1e-6


def test_generator_torque_rate_and_limits(params):
    torque = dynamics.torque_actuator(jnp.float32(10_000.0), jnp.float32(1e6), params)
    assert float(torque) == pytest.approx(10_000.0 + params.max_torque_rate * params.dt)
    assert float(dynamics.torque_actuator(jnp.float32(47_000.0), jnp.float32(1e6), params)) == pytest.approx(
        params.max_gen_torque)
    held_t, held_p = jnp.float32(18_000.0), jnp.deg2rad(6.0)
    for mode in ("rate", "absolute"):
        p = params.replace(action_mode=mode)
        a = dynamics.physical_to_action(jnp.float32(20_000.0), jnp.deg2rad(7.0), p, held_t, held_p)
        torque, pitch = dynamics.action_to_physical(a, p, held_t, held_p)
        assert float(torque) == pytest.approx(20_000.0, rel=1e-5)
        assert float(pitch) == pytest.approx(np.deg2rad(7.0), rel=1e-5)
    # rate mode: zero holds the setpoints, full scale moves them by the DISCON rate limits
    torque, pitch = dynamics.action_to_physical(jnp.zeros(2), params, held_t, held_p)
    assert float(torque) == pytest.approx(18_000.0) and float(pitch) == pytest.approx(float(held_p))
    torque, pitch = dynamics.action_to_physical(jnp.ones(2), params, held_t, held_p)
    assert float(torque) - 18_000.0 == pytest.approx(40_000.0 * params.dt, rel=1e-5)   # VS_MaxRat
    assert float(pitch - held_p) == pytest.approx(0.1745 * params.dt, rel=1e-4)          # PC_MaxRat


def test_kaimal_ar_turbulence_has_the_kaimal_variance_and_spectrum():
    mean, ti, dt, n = 10.0, 0.12, 0.2, 2**16
    length = wind.turbulence_length_scale(90.0)
    factors = jnp.asarray(wind.KAIMAL_TIME_FACTORS, jnp.float32)
    weights = jnp.asarray(wind.kaimal_ar_weights(), jnp.float32)
    sigma = ti * mean

    def body(x, k):
        x = wind.turbulence_step(k, x, sigma, mean, length, factors, weights, dt)
        return x, jnp.sum(x)

    x0 = wind.turbulence_init(jax.random.key(0), sigma, weights)
    _, series = jax.jit(lambda: jax.lax.scan(body, x0, jax.random.split(jax.random.key(1), n)))()
    series = np.asarray(series, np.float64)
    assert np.std(series) == pytest.approx(sigma, rel=0.15)
    f, psd = welch(series, fs=1 / dt, nperseg=4096)
    for lo, hi in ((0.005, 0.02), (0.02, 0.08), (0.08, 0.3), (0.3, 1.0)):
        band = (f >= lo) & (f < hi)
        ratio = np.mean(psd[band]) / np.mean(wind.kaimal_spectrum(f[band], sigma, length, mean))
        assert ratio == pytest.approx(1.0, abs=0.3), f"band {lo}-{hi} Hz: PSD ratio {ratio:.2f}"


def test_extreme_operating_gust_shape():
    t = jnp.linspace(-1.0, 12.0, 1301)
    shape = np.asarray(wind.eog_shape(t, 10.5))
    assert shape[0] == 0.0 and shape[-1] == 0.0
    # IEC shape: a dip of 0.268, the main rise of 0.74 at T/2, peak to trough = the gust magnitude
    assert shape.min() == pytest.approx(-0.268, abs=0.002) and shape.max() == pytest.approx(0.74, abs=1e-4)
    assert shape.max() - shape.min() == pytest.approx(1.0, abs=0.01)
    assert np.argmin(shape) < np.argmax(shape)
    amp = float(wind.eog_amplitude(15.0, 0.14, 126.0, 42.0))
    assert amp == pytest.approx(3.3 * 0.14 * (0.75 * 15 + 5.6) / (1 + 0.1 * 126 / 42))
    ramp = wind.ramp_offset(jnp.array([0.0, 10.0, 25.0, 100.0]), 10.0, 30.0, 6.0)
    np.testing.assert_allclose(np.asarray(ramp), [0.0, 0.0, 3.0, 6.0])
