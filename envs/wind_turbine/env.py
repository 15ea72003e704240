"""WindTurbine-v0: one turbine in turbulent wind; hold power and rotor speed, spare the structure.

One ROSCO turbine (``turbine=``: ``nrel_5MW_rosco``, the default, flown by the 2009 NREL 5-MW
reference controller; ``iea_15MW_rosco`` by DISCON's ROSCO controller; a spec YAML or a
``DISCON.IN`` path, ``resolve_turbine``; its ``Cp_Ct_Cq`` surfaces, DISCON settings and spec facts
from ``twingym.envs.turbines``) with a one-mass drivetrain, rate-limited generator torque
and a rate-limited first-order pitch actuator (``dynamics.py``), in Kaimal turbulence with optional
gust and ramp (``wind.py``). One control step is ``dt = 0.2`` s (two 0.1 s physics substeps); one
episode is ``max_steps = 600`` steps (2 minutes) at a mean wind drawn uniformly in
``[wind_mean_min, wind_mean_max]`` (5..20 m/s), starting at the steady operating point of the
reference controller for the initial wind.

Observation (float32, shape (8,)), noisy sensors (std x ``sensor_noise``); ranges below are the
NREL 5-MW's, other turbines get theirs from their rated figures (``observation_bounds``):

==  ======================  ======  ===========  ==================================================
 i  name                    unit    range        meaning
==  ======================  ======  ===========  ==================================================
 0  rotor_speed             rpm     0 .. 30      measured rotor speed (noise 0.5 % of rated)
 1  rotor_speed_filtered    rpm     0 .. 30      first-order low-pass of 0 (``F_LPFCornerFreq``)
 2  pitch                   deg     -10 .. 95    measured collective pitch (noise 0.1 deg)
 3  generator_torque        kN m    -5 .. 60     measured generator torque, HSS (noise 0.5 % rated)
 4  power                   MW      -1 .. 10     measured electrical power (noise 1 % of rated)
 5  torque_setpoint         kN m    0 .. 60      generator torque command held by the twin (exact)
 6  pitch_setpoint          deg     0 .. 35      collective pitch command held by the twin (exact)
 7  episode_progress        1       0 .. 1       step / max_steps
==  ======================  ======  ===========  ==================================================

The true wind is not observed.

Action (float32, shape (2,), in [-1, 1], clipped), scaled to physical commands
(``dynamics.action_to_physical``). Default ``action_mode = "rate"``: the action moves the two
setpoints the twin holds,

- ``a[0]``: generator torque command change of ``a * VS_MaxRat * dt`` (NREL 5-MW: up to 8,000 N m
  per step, HSS), the command kept in ``[VS_MinTq, VS_MaxTq]`` = 0 .. 47,403 N m;
- ``a[1]``: collective pitch command change of ``a * PC_MaxRat * dt`` (up to 2 deg per step), the
  command kept in ``[PC_MinPit, pitch_cmd_max]`` = 0 .. 30 deg;

so a zero action holds the setpoints and exploration noise is a small random walk.
``action_mode = "absolute"`` maps ``a`` linearly onto those ranges instead.
``action_mode = "residual"`` (residual RL): the twin runs the reference controller
(``baselines.reference_commands``, its pitch integrator in the state, reading exactly the
observation entries the controller baseline reads) and ``a`` corrects its commands by
``a[0] * residual_torque`` (4,000 N m) and ``a[1] * residual_pitch`` (1 deg); the sum is held to
the rate mode's per-step limits and ranges, so ``a = 0`` is the reference controller and every
residual command is also a rate-mode command. Either way the generator follows its command at
most at ``VS_MaxRat`` = 40,000 N m/s, and the pitch actuator with a 0.32 s lag
(``PA_CornerFreq``) at most 8 deg/s.

Reward per step (about 1 for perfect operation)::

    r = 1 - w_power |P - P_ref| / P_rated            power tracking, P_ref = min(P_rated, P_avail)
          - w_pitch (d beta / (8 deg/s * dt))^2       pitch activity (0..1 at full rate)
          - w_torque_rate (dQ / (VS_MaxRat dt))^2     generator torque rate (0..1 at full rate)
          - w_tower |T - T_lp| / T_rated              tower fore-aft load variation (thrust)
          - w_drivetrain |Q_s - Q_s,lp| / Q_rated     drivetrain load variation (shaft torque)
          - w_cost * cost                             limit events (below)
          - shutdown_penalty [overspeed shutdown]

``P_avail = eta 0.5 rho pi R^2 U^3 Cp_max`` uses the true wind; ``T_lp``, ``Q_s,lp`` are low-pass
filtered (``fatigue_tau`` s) thrust and low-speed shaft torque (``loads.shaft_torque``), so the two
load terms measure the fast variations of the tower-base moment (``T`` x hub height) and the shaft
torque, whose damage-equivalent loads the validation reports (a fatigue proxy). ``T_rated`` and
``Q_rated`` are the steady thrust and rotor torque at rated wind.

Cost per step (count of events, 0..3): generator overspeed (> ``overspeed_factor`` x rated),
overpower (> ``overpower_factor`` x rated), generator torque at its upper limit.
The episode terminates (overspeed shutdown) when generator speed exceeds ``SD_MaxGenSpd``
(1.2 x rated); it is truncated after ``max_steps``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs import spaces
from twingym.envs.core import Baseline, Label, TwinEnv, replace_fields
from twingym.envs.turbines.tsr_tracking import TsrTrackingSettings, operating_point
from twingym.envs.turbines.turbine_spec import TurbineSpec, load_turbine_spec
from twingym.envs.wind_turbine import wind as wind_model
from twingym.envs.wind_turbine.baselines import (
    REFERENCE_CONTROLLER,
    ReferenceControllerParams,
    controller_kind,
    measurements,
    reference_controller_params,
    torque_law,
    wind_turbine_baselines,
)
from twingym.envs.wind_turbine.dynamics import (
    action_to_physical,
    aero_loads,
    physical_to_action,
    rotor_substeps,
    steady_state_table,
    torque_actuator,
)
from twingym.envs.wind_turbine.loads import generator_inertia_lss, shaft_torque, tower_base_moment
from twingym.envs.wind_turbine.rosco_controller import rosco_controller_params
from twingym.envs.wind_turbine.types import WindTurbineParams, WindTurbineState

RPM = np.pi / 30.0
#: WindTurbine-v0 ``turbine=`` short names: the twin flies ROSCO turbines only, so FLORIS's names
#: of the two reference turbines select their ROSCO models (the wind farm keeps the names apart).
TURBINE_ALIASES = {"nrel_5MW": "nrel_5MW_rosco", "iea_15MW": "iea_15MW_rosco"}
DEFAULT_TURBINE = "nrel_5MW_rosco"
#: rows of ``WindTurbineState.history``.
HISTORY_ROWS = ("rotor_speed_rpm", "pitch_deg", "power_mw", "wind_ms")



def observation_bounds(rated_rotor_rpm: float, max_torque: float, rated_power: float
                       ) -> tuple[tuple, tuple]:
    """``(low, high)`` of the observation: rotor speed up to 2.4 x rated (rounded up to 10 rpm),
    torque -1/12 .. 1.25 x ``VS_MaxTq`` (rounded up to 5 kN m), power -0.1 .. 2 x rated, pitch
    -10 .. 95 deg (setpoint 0 .. 35). The NREL 5-MW gets 0..30 rpm, -5..60 kN m, -1..10 MW."""
    speed = 10.0 * np.ceil(2.4 * rated_rotor_rpm / 10.0)
    torque = 5.0 * np.ceil(1.25 * max_torque / 1e3 / 5.0)
    power = 2.0 * rated_power / 1e6
    low = (0.0, 0.0, -10.0, -torque / 12.0, -0.1 * power, 0.0, 0.0, 0.0)
    high = (speed, speed, 95.0, torque, power, torque, 35.0, 1.0)
    return tuple(float(x) for x in low), tuple(float(x) for x in high)



#: param fields that change the steady operating points (make_params recomputes them).
_AERO_FIELDS = {"cp_scale", "ct_scale", "air_density", "rotor_radius", "coefficients",
                "gearbox_ratio", "rated_power", "generator_efficiency", "rated_gen_speed"}


def resolve_turbine(turbine: str | Path | TurbineSpec = DEFAULT_TURBINE) -> TurbineSpec:
    """The :class:`TurbineSpec` of ``turbine``: a bundled ROSCO turbine (``nrel_5MW_rosco``,
    ``iea_15MW_rosco``, or the short names in ``TURBINE_ALIASES``), a spec YAML, or a
    ``DISCON.IN`` path with its geometry YAML beside it (``twingym.envs.turbines.turbine_spec``)."""
    if isinstance(turbine, TurbineSpec):
        return turbine
    return load_turbine_spec(TURBINE_ALIASES.get(str(turbine), turbine))


#: controller kind named in a turbine spec -> settings for the twin's reference controller.
CONTROLLER_BUILDERS = {
    "jonkman_2009": lambda spec: reference_controller_params(spec.turbine),
    "rosco": lambda spec: rosco_controller_params(spec.turbine),
}


def build_params(turbine: str | Path | TurbineSpec = DEFAULT_TURBINE, **overrides: Any) -> WindTurbineParams:
    """Params from a turbine (:func:`resolve_turbine`), then ``overrides`` (checked names).

    The spec's controller (``rosco.controller``) picks the reference controller: the 2009 NREL
    5-MW law (``jonkman_2009``) or DISCON's ROSCO controller (``rosco``).
    """
    spec = resolve_turbine(turbine)
    turbine_data = spec.turbine
    perf = turbine_data.performance
    f32 = lambda x: jnp.asarray(x, dtype=jnp.float32)  # noqa: E731
    factors = np.asarray(wind_model.KAIMAL_TIME_FACTORS)
    shutdown = turbine_data.discon.get("SD_MaxGenSpd", 1.2 * turbine_data.rated_gen_speed)
    obs_low, obs_high = observation_bounds(turbine_data.rated_rotor_speed / RPM, turbine_data.max_gen_torque,
                                           turbine_data.rated_power)
    turbine = turbine_data
    params = WindTurbineParams(
        rotor_radius=turbine.rotor_radius, hub_height=spec.hub_height,
        gearbox_ratio=turbine.gearbox_ratio, inertia=turbine.inertia,
        air_density=turbine.air_density, generator_efficiency=turbine.generator_efficiency,
        rated_power=turbine.rated_power, rated_gen_speed=turbine.rated_gen_speed,
        shutdown_gen_speed=float(shutdown), min_gen_torque=turbine.min_gen_torque,
        max_gen_torque=turbine.max_gen_torque, max_torque_rate=turbine.max_torque_rate,
        min_pitch=turbine.min_pitch, max_pitch=turbine.max_pitch,
        pitch_cmd_max=float(np.deg2rad(perf.pitch_deg.max())), pitch_rate_max=spec.pitch_rate_max,
        pitch_cmd_rate=abs(turbine.max_pitch_rate),
        pitch_tau=1.0 / turbine.pitch_actuator_bandwidth,
        speed_filter_corner=float(turbine.discon["F_LPFCornerFreq"]),
        tsr_grid=f32(perf.tsr), pitch_grid=f32(np.deg2rad(perf.pitch_deg)),
        coefficients=f32(np.stack([perf.cp, perf.ct, perf.cq])), cp_max=float(perf.cp.max()),
        cp_scale=1.0, ct_scale=1.0,
        ss_wind=f32(np.zeros(1)), ss_omega=f32(np.zeros(1)), ss_pitch=f32(np.zeros(1)),
        ss_torque=f32(np.zeros(1)), rated_thrust=1.0, rated_aero_torque=1.0,
        wind_mean_min=5.0, wind_mean_max=20.0, turbulence_intensity=0.10,
        turbulence_length=wind_model.turbulence_length_scale(spec.hub_height),
        turbulence_time_factors=f32(factors),
        turbulence_weights=f32(wind_model.kaimal_ar_weights(tuple(factors))),
        gust_scale=0.0, gust_iref=0.14, gust_duration=10.5, ramp_delta=0.0, ramp_duration=30.0,
        event_window=f32([0.2, 0.6]),
        sensor_noise=1.0, noise_speed=0.005, noise_pitch_deg=0.1, noise_torque=0.005, noise_power=0.01,
        w_power=1.0, w_pitch=0.1, w_torque_rate=0.1, w_tower=0.3, w_drivetrain=0.5, w_cost=0.05,
        fatigue_tau=5.0,
        shutdown_penalty=10.0, overspeed_factor=1.1, overpower_factor=1.1,
        controller=CONTROLLER_BUILDERS[spec.controller](spec),
        residual_torque=0.5 * turbine.max_torque_rate * 0.2,
        residual_pitch=0.5 * abs(turbine.max_pitch_rate) * 0.2,
        generator_inertia=generator_inertia_lss(spec.name, turbine.gearbox_ratio),
        obs_low=obs_low, obs_high=obs_high)
    params = replace_fields(params, overrides, what="WindTurbine-v0 parameter")
    return with_operating_points(params)


def _start_table(host: Any, winds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(omega rad/s, pitch rad, torque N m)`` of the reference controller's steady state at
    ``winds`` on the twin's (possibly scaled) surfaces: the episode start."""
    c = host.controller
    if isinstance(c, ReferenceControllerParams):
        return steady_state_table(host, lambda w: torque_law(c, w, 0.0, xp=np), winds, c.ref_speed,
                                  c.rated_power_mech)
    settings = TsrTrackingSettings(
        tsr_opt=c.tsr_opt, min_gen_speed=c.min_gen_speed, vs_ref_speed=c.vs_ref_speed,
        pc_ref_speed=c.pc_ref_speed, rated_torque=c.rated_torque, max_torque=c.max_torque,
        min_torque=c.min_torque, const_power=c.const_power,
        rated_power_mech=c.rated_power / c.generator_efficiency, fine_pitch=c.fine_pitch,
        ps_wind=np.asarray(c.ps_wind), ps_pitch=np.asarray(c.ps_pitch))
    max_pitch = float(np.rad2deg(host.pitch_cmd_max))
    out = []
    for u in winds:
        def q_aero(om, beta_deg, u=float(u)):
            om, beta = np.broadcast_arrays(np.asarray(om, np.float64), np.deg2rad(beta_deg))
            return aero_loads(host, u, om, beta, xp=np)[0]

        try:
            om, beta, torque, _ = operating_point(settings, q_aero, float(host.gearbox_ratio),
                                                  float(host.rotor_radius), float(u), max_pitch)
            out.append((om, float(np.deg2rad(beta)), torque))
        except ValueError:   # beyond what the surface can hold at rated: repeat the last point
            out.append(out[-1] if out else (c.pc_ref_speed / float(host.gearbox_ratio),
                                            float(host.pitch_cmd_max), c.rated_torque))
    omega, pitch, torque = np.asarray(out, dtype=np.float64).T
    return omega, pitch, torque


def with_operating_points(params: WindTurbineParams) -> WindTurbineParams:
    """Recompute the steady operating-point table and the load scales for ``params``."""
    host = jax.tree.map(lambda x: np.asarray(x, dtype=np.float64) if isinstance(x, jax.Array) else x, params)
    winds = np.arange(2.0, 35.01, 0.25)
    omega, pitch, torque = _start_table(host, winds)
    _, thrusts = aero_loads(host, winds, omega, pitch, xp=np)
    f32 = lambda x: jnp.asarray(x, dtype=jnp.float32)  # noqa: E731
    rated_mech = float(host.rated_power / host.generator_efficiency)
    return params.replace(ss_wind=f32(winds), ss_omega=f32(omega), ss_pitch=f32(pitch),
                          ss_torque=f32(torque), rated_thrust=float(np.max(thrusts)),
                          rated_aero_torque=rated_mech / (float(host.rated_gen_speed) / float(host.gearbox_ratio)))


class WindTurbine(TwinEnv[WindTurbineState, WindTurbineParams]):
    __doc__ = __doc__
    reference_baseline = REFERENCE_CONTROLLER

    # ---- params ---------------------------------------------------------------------------------
    def default_params(self) -> WindTurbineParams:
        return _default_params()

    def make_params(self, **overrides: Any) -> WindTurbineParams:
        """Default params with ``overrides``. ``turbine`` loads another turbine (a bundled name,
        a spec YAML or a DISCON path: :func:`resolve_turbine`); aerodynamic changes (e.g.
        ``cp_scale``) refresh the start table."""
        if "turbine" in overrides:
            return build_params(overrides.pop("turbine"), **overrides)
        params = self.replace_params(self.default_params(), **overrides)
        if _AERO_FIELDS & set(overrides):
            params = with_operating_points(params)
        return params

    # ---- helpers --------------------------------------------------------------------------------
    def _hub_wind(self, state: WindTurbineState, turbulence: jax.Array, t: jax.Array,
                  params: WindTurbineParams) -> jax.Array:
        ramp = wind_model.ramp_offset(t, state.ramp_start, params.ramp_duration, params.ramp_delta)
        gust = state.gust_amplitude * wind_model.eog_shape(t - state.gust_start, params.gust_duration)
        return jnp.maximum(state.wind_mean + ramp + jnp.sum(turbulence) + gust, 0.0)

    def _sigma(self, state: WindTurbineState, params: WindTurbineParams) -> jax.Array:
        return params.turbulence_intensity * state.wind_mean

    def _measure(self, key: jax.Array, state: WindTurbineState, params: WindTurbineParams
                 ) -> jax.Array:
        """Noisy (rotor speed rad/s, pitch rad, torque N m, power W)."""
        e = jax.random.normal(key, (4,)) * params.sensor_noise
        omega_rated = params.rated_gen_speed / params.gearbox_ratio
        return jnp.stack([
            state.omega + e[0] * params.noise_speed * omega_rated,
            state.pitch + e[1] * jnp.deg2rad(params.noise_pitch_deg),
            state.gen_torque + e[2] * params.noise_torque * params.max_gen_torque,
            state.power + e[3] * params.noise_power * params.rated_power])

    def _obs(self, meas: jax.Array, state: WindTurbineState, params: WindTurbineParams) -> jax.Array:
        obs = jnp.stack([meas[0] / RPM, state.speed_filtered / RPM, jnp.rad2deg(meas[1]),
                         meas[2] / 1e3, meas[3] / 1e6, state.torque_setpoint / 1e3,
                         jnp.rad2deg(state.pitch_setpoint), state.time / params.max_steps])
        obs = jnp.nan_to_num(obs, nan=0.0)
        return jnp.clip(obs, np.asarray(params.obs_low, np.float32),
                        np.asarray(params.obs_high, np.float32)).astype(jnp.float32)

    def _history_sample(self, state: WindTurbineState) -> jax.Array:
        return jnp.stack([state.omega / RPM, jnp.rad2deg(state.pitch), state.power / 1e6, state.wind])

    # ---- API ------------------------------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: WindTurbineParams) -> tuple[jax.Array, WindTurbineState]:
        k_mean, k_turb, k_ramp, k_gust, k_obs = jax.random.split(key, 5)
        wind_mean = jax.random.uniform(k_mean, (), minval=params.wind_mean_min, maxval=params.wind_mean_max)
        sigma = params.turbulence_intensity * wind_mean
        turbulence = wind_model.turbulence_init(k_turb, sigma, params.turbulence_weights)
        horizon = params.max_steps * params.dt
        lo, hi = params.event_window[0] * horizon, params.event_window[1] * horizon
        ramp_start = jax.random.uniform(k_ramp, (), minval=lo, maxval=hi)
        gust_start = jax.random.uniform(k_gust, (), minval=lo, maxval=hi)
        gust_amp = params.gust_scale * wind_model.eog_amplitude(
            wind_mean, params.gust_iref, 2.0 * params.rotor_radius, 0.7 * jnp.minimum(params.hub_height, 60.0))
        hub = jnp.maximum(wind_mean + jnp.sum(turbulence), 0.0)
        omega = jnp.interp(hub, params.ss_wind, params.ss_omega)
        pitch = jnp.interp(hub, params.ss_wind, params.ss_pitch)
        torque = jnp.interp(hub, params.ss_wind, params.ss_torque)
        q_aero, thrust = aero_loads(params, hub, omega, pitch)
        power = params.generator_efficiency * torque * params.gearbox_ratio * omega
        q_shaft = shaft_torque(q_aero, torque, params)
        f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
        state = WindTurbineState(
            time=jnp.int32(0), omega=f32(omega), pitch=f32(pitch), gen_torque=f32(torque),
            torque_setpoint=f32(torque), pitch_setpoint=f32(pitch),
            speed_filtered=f32(omega), turbulence=f32(turbulence), wind_mean=f32(wind_mean),
            ramp_start=f32(ramp_start), gust_start=f32(gust_start), gust_amplitude=f32(gust_amp),
            wind=f32(hub), power=f32(power), thrust_lp=f32(thrust), torque_lp=f32(q_shaft),
            measured=jnp.zeros((4,), jnp.float32), ref_carry=None,
            history=jnp.zeros((len(HISTORY_ROWS), params.history_len), jnp.float32))
        meas = self._measure(k_obs, state, params)
        obs = self._obs(meas, state, params)
        # the reference controller (re)starts bumplessly from the first observation
        carry = controller_kind(params.controller).init(params.controller, measurements(obs, params))
        state = state.replace(
            history=jnp.tile(self._history_sample(state)[:, None], (1, params.history_len)).astype(jnp.float32),
            measured=meas.astype(jnp.float32), ref_carry=jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), carry))
        return obs, state

    def _commands(self, action: jax.Array, state: WindTurbineState, params: WindTurbineParams
                  ) -> tuple[jax.Array, jax.Array, Any]:
        """New (torque N m, pitch rad) setpoints for ``action`` and the reference controller's state.

        ``residual`` mode: the reference controller's step, computed from the last observation
        (the one the controller baseline reads), plus ``a * (residual_torque, residual_pitch)``; the
        sum is held to the rate limits of the ``rate`` mode (``VS_MaxRat``, ``PC_MaxRat``) and the
        setpoint ranges, so residual commands are a subset of rate commands.
        """
        if params.action_mode != "residual":
            torque, pitch = action_to_physical(jnp.asarray(action, jnp.float32), params,
                                               state.torque_setpoint, state.pitch_setpoint)
            return torque, pitch, state.ref_carry
        m = measurements(self._obs(state.measured, state, params), params)
        last_torque, last_pitch = m.torque_setpoint, m.pitch_setpoint
        torque_ref, pitch_ref, carry = controller_kind(params.controller).commands(
            params.controller, params.dt, params.pitch_cmd_max, m, state.ref_carry)
        carry = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), carry)
        a = jnp.clip(jnp.reshape(jnp.asarray(action, jnp.float32), (2,)), -1.0, 1.0)
        t_step = params.max_torque_rate * params.dt
        p_step = params.pitch_cmd_rate * params.dt
        torque = last_torque + jnp.clip(torque_ref + a[0] * params.residual_torque - last_torque,
                                        -t_step, t_step)
        pitch = last_pitch + jnp.clip(pitch_ref + a[1] * params.residual_pitch - last_pitch,
                                      -p_step, p_step)
        return (jnp.clip(torque, params.min_gen_torque, params.max_gen_torque),
                jnp.clip(pitch, params.min_pitch, params.pitch_cmd_max), carry)

    def step_env(self, key: jax.Array, state: WindTurbineState, action: jax.Array,
                 params: WindTurbineParams):
        k_turb, k_obs = jax.random.split(key)
        dt = params.dt
        torque_cmd, pitch_cmd, ref_carry = self._commands(action, state, params)
        time = state.time + 1
        t = time * dt
        turbulence = wind_model.turbulence_step(
            k_turb, state.turbulence, self._sigma(state, params), state.wind_mean,
            params.turbulence_length, params.turbulence_time_factors, params.turbulence_weights, dt)
        hub = self._hub_wind(state, turbulence, t, params)
        gen_torque = torque_actuator(state.gen_torque, torque_cmd, params)
        omega, pitch, q_aero, thrust = rotor_substeps(
            params, state.omega, state.pitch, pitch_cmd, gen_torque, hub, params.n_substeps)
        power = params.generator_efficiency * gen_torque * params.gearbox_ratio * omega
        alpha = 1.0 - jnp.exp(-dt / params.fatigue_tau)
        thrust_lp = state.thrust_lp + alpha * (thrust - state.thrust_lp)
        q_shaft = shaft_torque(q_aero, gen_torque, params)
        torque_lp = state.torque_lp + alpha * (q_shaft - state.torque_lp)
        new = state.replace(time=time, omega=omega, pitch=pitch, gen_torque=gen_torque,
                            torque_setpoint=torque_cmd, pitch_setpoint=pitch_cmd,
                            turbulence=turbulence, wind=hub, power=power,
                            thrust_lp=thrust_lp, torque_lp=torque_lp, ref_carry=ref_carry)
        meas = self._measure(k_obs, new, params)
        new = new.replace(measured=meas.astype(jnp.float32))
        beta_f = 1.0 - jnp.exp(-dt * params.speed_filter_corner)
        new = new.replace(speed_filtered=state.speed_filtered + beta_f * (meas[0] - state.speed_filtered))
        every = params.history_every
        slot = (time // every) % params.history_len
        sample = jnp.where(time % every == 0, self._history_sample(new), new.history[:, slot])
        new = new.replace(history=new.history.at[:, slot].set(sample))

        # reward
        area = np.pi * params.rotor_radius**2
        p_avail = (params.generator_efficiency * 0.5 * params.air_density * area * hub**3
                   * params.cp_max * params.cp_scale)
        p_ref = jnp.minimum(params.rated_power, p_avail)
        e_power = jnp.abs(power - p_ref) / params.rated_power
        pitch_rate = (pitch - state.pitch) / (params.pitch_rate_max * dt)
        torque_rate = (gen_torque - state.gen_torque) / (params.max_torque_rate * dt)
        tower = jnp.abs(thrust - thrust_lp) / params.rated_thrust
        drivetrain = jnp.abs(q_shaft - torque_lp) / params.rated_aero_torque
        gen_speed = omega * params.gearbox_ratio
        terminated = gen_speed > params.shutdown_gen_speed
        overspeed = gen_speed > params.overspeed_factor * params.rated_gen_speed
        overpower = power > params.overpower_factor * params.rated_power
        at_torque_limit = gen_torque >= 0.999 * params.max_gen_torque
        cost = (overspeed.astype(jnp.float32) + overpower.astype(jnp.float32)
                + at_torque_limit.astype(jnp.float32))
        reward = (1.0 - params.w_power * e_power - params.w_pitch * pitch_rate**2
                  - params.w_torque_rate * torque_rate**2 - params.w_tower * tower
                  - params.w_drivetrain * drivetrain - params.w_cost * cost
                  - params.shutdown_penalty * terminated)
        truncated = time >= params.max_steps
        info = {"cost": cost, "wind": hub, "power": power, "power_reference": p_ref,
                "rotor_speed": omega, "pitch": pitch, "gen_torque": gen_torque, "thrust": thrust,
                "aero_torque": q_aero, "power_error": e_power, "tower_load_variation": tower,
                "drivetrain_load_variation": drivetrain,
                "tower_base_moment": tower_base_moment(thrust, params),
                "shaft_torque": q_shaft}
        obs = self._obs(meas, new, params)
        return obs, new, jnp.nan_to_num(reward, nan=-10.0), terminated, truncated, info

    def observation_space(self, params: WindTurbineParams) -> spaces.Box:
        return spaces.Box(low=np.asarray(params.obs_low, np.float32), high=np.asarray(params.obs_high, np.float32))

    def safe_action(self, state: WindTurbineState, action: jax.Array, params: WindTurbineParams) -> jax.Array:
        """Hold the current setpoints: zero in ``rate`` mode, the reference controller in
        ``residual`` mode, the held setpoints mapped back onto [-1, 1] in ``absolute`` mode."""
        if params.action_mode != "absolute":
            return jnp.zeros_like(action)
        return physical_to_action(state.torque_setpoint, state.pitch_setpoint, params,
                                  state.torque_setpoint, state.pitch_setpoint).reshape(jnp.shape(action))

    def action_space(self, params: WindTurbineParams) -> spaces.Box:
        return spaces.Box(low=-1.0, high=1.0, shape=(2,))

    def observation_labels(self, params: WindTurbineParams) -> list[Label]:
        return [Label("turbine", "rotor_speed", "rpm"), Label("turbine", "rotor_speed_filtered", "rpm"),
                Label("turbine", "pitch", "deg"), Label("turbine", "generator_torque", "kN m"),
                Label("turbine", "power", "MW"), Label("turbine", "torque_setpoint", "kN m"),
                Label("turbine", "pitch_setpoint", "deg"), Label("twin", "episode_progress", "1")]

    def action_labels(self, params: WindTurbineParams) -> list[Label]:
        if params.action_mode == "rate":
            return [Label("turbine", "torque_rate_command", "1 (x VS_MaxRat)"),
                    Label("turbine", "pitch_rate_command", "1 (x PC_MaxRat)")]
        if params.action_mode == "residual":
            return [Label("turbine", "torque_correction", "1 (x residual_torque)"),
                    Label("turbine", "pitch_correction", "1 (x residual_pitch)")]
        return [Label("turbine", "torque_command", "1 (0..VS_MaxTq)"),
                Label("turbine", "pitch_command", "1 (0..pitch_cmd_max)")]

    def baselines(self) -> dict[str, Baseline]:
        return wind_turbine_baselines()

    def scenarios(self) -> dict[str, dict[str, Any]]:
        from twingym.envs.wind_turbine.scenarios import SCENARIOS

        return {name: dict(overrides) for name, overrides in SCENARIOS.items()}

    def schematic(self, params: WindTurbineParams) -> dict[str, Any]:
        """Rated power (MW) and rated rotor speed (rpm) for the viewer's gauges."""
        rpm = float(params.rated_gen_speed) / float(params.gearbox_ratio) * 60.0 / (2.0 * np.pi)
        return {"kind": "wind_turbine", "rated_power_mw": float(params.rated_power) / 1e6,
                "rated_rotor_speed_rpm": rpm}

    def render(self, state: WindTurbineState, params: WindTurbineParams) -> np.ndarray:
        from twingym.envs.wind_turbine.render import render_history

        return render_history(state, params)


_DEFAULT: list[WindTurbineParams] = []


def _default_params() -> WindTurbineParams:
    """Default params, built once per process (the operating-point table takes ~0.1 s)."""
    if not _DEFAULT:
        _DEFAULT.append(build_params())
    return _DEFAULT[0]
