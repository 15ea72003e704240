"""Parity of the twin under its reference controller with the NREL 5-MW published steady states
and with the wind farm twin's turbine data.

Reference figures (steady, uniform wind; rotor speed in rpm, pitch in deg, power in MW):

- Jonkman, Butterfield, Musial, Scott (2009), "Definition of a 5-MW Reference Wind Turbine for
  Offshore System Development", NREL/TP-500-38060:
  * Table 1-1: rated power 5 MW, rated wind 11.4 m/s, rated rotor speed 12.1 rpm.
  * Table 7-1 ("Sensitivity of aerodynamic power to blade pitch in Region 3"): steady pitch angle
    at 12..24 m/s (``PITCH_TABLE_7_1``).
  * Fig. 9-1 (steady-state responses vs wind speed): rotor speed below rated
    (``ROTOR_SPEED_FIG_9_1``, the values as commonly tabulated for linearisation operating points;
    at 8-10 m/s they equal the optimal tip-speed ratio 7.55 of Sec. 7.1 times U / R).
- Power curve: the wind farm twin's default turbine (``nrel_5MW``), which is derived from the
  same ROSCO surfaces and DISCON.IN by ``twingym.envs.turbines.steady_state`` (a static balance of
  aerodynamic and generator torque). The dynamic twin under its reference controller must
  reproduce it within 1 % (the issue's figure); measured: within 0.01 %.

Known deviations of the ROSCO surface from the 2009 FAST/AeroDyn model (measured, not tuned; the
static derivation from the surface gives the same figures, so the surface, not the twin, sets them):
- peak Cp 0.466 (CCBlade) where FAST has ~0.482: below-rated power is 2.4-3.3 % under the FAST
  steady-state table (``nrel_5MW_fast``, FLORIS's library table);
- steady pitch at 12 m/s 3.63 deg vs 3.83 (-5.2 %), at 24 m/s 21.90 vs 22.35 (-2.0 %);
every other rotor-speed and pitch figure is inside 2 % of the report.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from twingym.envs.turbines import load_floris_turbine, load_rosco_turbine, steady_operating_points
from twingym.envs.wind_farm.turbine import turbine_model
from twingym.envs.wind_turbine import WindTurbine

WINDS = np.arange(4.0, 25.0, 1.0)
RATED_POWER_MW = 5.0                     # Table 1-1
RATED_ROTOR_SPEED_RPM = 12.1             # Table 1-1
ROTOR_SPEED_FIG_9_1 = {4: 7.183, 5: 7.506, 6: 7.942, 7: 8.469, 8: 9.156, 9: 10.296, 10: 11.431,
                       11: 11.890}
PITCH_TABLE_7_1 = {12: 3.83, 13: 6.60, 14: 8.70, 15: 10.45, 16: 12.06, 17: 13.54, 18: 14.92,
                   19: 16.23, 20: 17.47, 21: 18.70, 22: 19.94, 23: 21.18, 24: 22.35}
#: relative tolerance against the report (the issue's 2 %), and the report figures the ROSCO
#: surface cannot reach: wind speed -> relative deviation measured for the static derivation.
TOL = 0.02
PITCH_SURFACE_EXCEPTIONS = {12: -0.052, 24: -0.020}
#: the issue's tolerance on power below rated against the wind farm twin's turbine data
POWER_VS_FARM_TOL = 0.01
#: below-rated power against FAST's table (``nrel_5MW_fast``): the Cp difference, measured
FAST_POWER_GAP = (-0.034, -0.023)
SETTLE_STEPS, AVERAGE_STEPS = 1400, 100   # 300 s of 0.2 s steps, the last 20 s averaged


@pytest.fixture(scope="module")
def steady_states():
    """Run the reference controller in steady wind from an off-equilibrium start."""
    env = WindTurbine()
    params = env.make_params(turbulence_intensity=0.0, sensor_noise=0.0, max_steps=2000)
    controller = env.baselines()[env.reference_baseline]

    def run(u, key):
        p = params.replace(wind_mean_min=u, wind_mean_max=u)
        obs, state = env.reset(key, p)
        # start 10 % slow and 2 deg off the steady pitch: the controller must find the point itself
        state = state.replace(omega=0.9 * state.omega, pitch=state.pitch + jnp.deg2rad(2.0) * (u > 11.5))
        obs = env._obs(env._measure(key, state, p), state, p)

        def body(carry, k):
            state, obs, c = carry
            action, c = controller.act(c, obs, p)
            obs, state, _, _, _, info = env.step_env(k, state, action, p)
            return (state, obs, c), (info["power"], info["rotor_speed"], info["pitch"])

        _, (power, omega, pitch) = jax.lax.scan(body, (state, obs, controller.init(p)),
                                                jax.random.split(key, SETTLE_STEPS + AVERAGE_STEPS))
        tail = slice(SETTLE_STEPS, None)
        return (power[tail].mean() / 1e6, omega[tail].mean() * 30 / np.pi,
                jnp.rad2deg(pitch[tail]).mean(), jnp.ptp(omega[tail]) * 30 / np.pi)

    out = jax.jit(jax.vmap(run, in_axes=(0, None)))(jnp.asarray(WINDS, jnp.float32), jax.random.key(0))
    power, speed, pitch, speed_ripple = (np.asarray(x, dtype=np.float64) for x in out)
    assert np.all(speed_ripple < 0.01), f"did not settle to a steady state: {speed_ripple}"
    return {int(u): (power[i], speed[i], pitch[i]) for i, u in enumerate(WINDS)}


@pytest.fixture(scope="module")
def derived():
    """The static steady states from the ROSCO data: wind speed -> (MW, rpm, deg)."""
    pts = steady_operating_points(load_rosco_turbine(), WINDS)
    return {int(u): (pts.power[i] / 1e6, pts.rotor_speed[i] * 30 / np.pi, pts.pitch_deg[i])
            for i, u in enumerate(WINDS)}


def test_rotor_speed_matches_jonkman_2009(steady_states):
    for u, (_, speed, _) in steady_states.items():
        ref = ROTOR_SPEED_FIG_9_1.get(u, RATED_ROTOR_SPEED_RPM)
        assert speed == pytest.approx(ref, rel=TOL), f"{u} m/s: {speed:.3f} rpm vs {ref}"


def test_pitch_matches_jonkman_2009_table_7_1(steady_states, derived):
    for u, (_, _, pitch) in steady_states.items():
        if u not in PITCH_TABLE_7_1:
            assert abs(pitch) < 0.05, f"{u} m/s: pitch {pitch:.3f} deg below rated"
            continue
        ref = PITCH_TABLE_7_1[u]
        if u in PITCH_SURFACE_EXCEPTIONS:
            # out of reach of the surface itself: the static balance on it lands at the same
            # deviation (within 0.3 %), and the twin at the static balance's pitch
            expected = PITCH_SURFACE_EXCEPTIONS[u]
            assert derived[u][2] / ref - 1 == pytest.approx(expected, abs=0.003), f"{u} m/s"
            assert pitch / ref - 1 == pytest.approx(expected, abs=0.003), f"{u} m/s: {pitch:.3f} deg"
        else:
            assert pitch == pytest.approx(ref, rel=TOL), f"{u} m/s: {pitch:.3f} deg vs {ref}"


def test_twin_reproduces_the_static_derivation(steady_states, derived):
    """Rotor speed and pitch of the dynamic twin equal the static torque balance on the same data."""
    for u, (_, speed, pitch) in steady_states.items():
        _, d_speed, d_pitch = derived[u]
        assert speed == pytest.approx(d_speed, rel=1e-3), f"{u} m/s: {speed:.4f} vs {d_speed:.4f} rpm"
        assert pitch == pytest.approx(d_pitch, abs=0.01), f"{u} m/s: {pitch:.3f} vs {d_pitch:.3f} deg"


def test_power_above_rated_is_rated(steady_states):
    for u, (power, _, _) in steady_states.items():
        if u >= 12:
            assert power == pytest.approx(RATED_POWER_MW, rel=TOL), f"{u} m/s: {power:.4f} MW"


def test_power_curve_against_wind_farm_turbine_data(steady_states):
    """The issue's 1 %: the curve the wind farm twin uses (its default turbine model, float32)."""
    farm = turbine_model()
    for u, (power, _, _) in steady_states.items():
        ref = float(np.interp(u, np.asarray(farm.wind_speed), np.asarray(farm.power))) / 1e6
        assert power == pytest.approx(ref, rel=POWER_VS_FARM_TOL), f"{u} m/s: {power:.4f} vs {ref:.4f} MW"


def test_power_below_rated_against_fast_table_is_the_cp_gap(steady_states):
    """Against FAST's steady states (FLORIS's table) the ROSCO surface's lower peak Cp shows:
    one-signed, nearly uniform, inside the measured band."""
    fast = load_floris_turbine("nrel_5MW_fast")
    below = np.array([steady_states[u][0] / (float(np.interp(u, fast.wind_speed, fast.power)) / 1e6) - 1
                      for u in range(4, 12)])
    assert np.all((below > FAST_POWER_GAP[0]) & (below < FAST_POWER_GAP[1])), below
