"""ROSCO's tip-speed-ratio tracking controller as ``DISCON.IN`` describes it (jittable JAX).

After Abbas, Zalkind, Pao, Wright (2022), *A reference open-source controller for fixed and
floating offshore wind turbines*, Wind Energ. Sci. 7 (ROSCO), for the modes the IEA 15-MW file
sets: ``VS_ControlMode = 2``, ``PC_ControlMode = 1``, ``SS_Mode = 1``, ``WE_Mode = 2``,
``PS_Mode = 0/1``, ``F_LPFType = 1/2``. Every step (``dt``), from the measured rotor speed,
measured pitch and the held torque and pitch commands:

1. **Speed filter**: generator speed ``N omega`` through ROSCO's low-pass (``F_LPFCornerFreq``;
   second order with ``F_LPFDamping`` when ``F_LPFType = 2``), discretised by Tustin's rule.
2. **Wind-speed estimator** (extended Kalman filter): states rotor speed, turbulent and mean wind
   ``(omega, v_t, v_m)``; prediction ``J d omega/dt = Q_aero(omega, beta, v_t + v_m) - N Q_gen``
   with ``Q_aero = 0.5 rho pi R^2 Cp(lambda, beta) v^3 / omega`` (the controller's own Cp surface,
   ``J = WE_Jtot``), ``d v_t/dt = -pi v_m / (2 L) v_t`` (``L = 6 R``), ``v_m`` a random walk; the
   Jacobian's rotor-speed pole from ``WE_FOPoles`` over ``WE_FOPoles_v``; process noise
   ``diag(1e-5, pi v_m^3 Ti^2 / L, 4 / 600)`` with ``Ti = 0.18``; measurement: rotor speed with
   variance 0.02. The estimate ``v_t + v_m`` is low-passed at ``F_WECornerFreq``.
3. **Peak shaving**: the pitch lower limit ``max(PC_MinPit, PS_BldPitchMin(v_est))``.
4. **Setpoint smoother**: ``dw = ((beta_cmd - beta_min) / 0.524 SS_VSGain - (1 - P / VS_RtPwr)
   SS_PCGain) PC_RefSpd``, low-passed at ``F_SSCornerFreq``; a positive ``dw`` lowers the torque
   loop's reference, a negative one raises the pitch loop's.
5. **Torque**: PI (``VS_KP``, ``VS_KI``) on ``clip(VS_TSRopt v_est N / R, VS_MinOMSpd, VS_RefSpd)
   - max(dw, 0)`` (kept >= ``VS_MinOMSpd``) minus the filtered speed, saturated to
   ``[VS_MinTq, VS_RtTq]`` (constant torque; ``VS_ConstPower = 1``: ``min(VS_RtPwr / eta / w,
   VS_MaxTq)``), integrator clamped the same way, rate limited to ``VS_MaxRat``.
6. **Pitch**: PI gain scheduled on the last pitch command (``PC_GS_*``) on ``PC_RefSpd - min(dw, 0)``
   minus the filtered speed, integrator and command clamped to ``[beta_min, PC_MaxPit]``, rate
   limited to ``PC_MaxRat``.

Not modelled: IPC, floating feedback, tower damping, shutdown, power reference tracking, notch
filters (all off in the bundled files).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from twingym.envs.turbines.rosco import RoscoTurbine
from twingym.envs.turbines.tsr_tracking import TsrTrackingSettings
from twingym.envs.wind_turbine.dynamics import bilinear

#: ROSCO's setpoint smoother normalises the pitch distance from its limit by 0.524 rad (30 deg).
SS_PITCH_NORM = 0.524
#: EKF constants of ROSCO's estimator: turbulence length (x R), intensity, measurement variance.
WE_LENGTH_FACTOR, WE_TI, WE_MEAS_VAR = 6.0, 0.18, 0.02


@struct.dataclass
class RoscoControllerParams:
    """Settings of the ROSCO controller (SI units, generator speeds HSS in rad/s)."""

    gearbox_ratio: float         # WE_GearboxRatio
    rotor_radius: float          # m, WE_BladeRadius
    inertia: float               # kg m^2, WE_Jtot (LSS)
    air_density: float           # kg/m^3, WE_RhoAir
    generator_efficiency: float  # 0..1, VS_GenEff / 100
    rated_power: float           # W, VS_RtPwr
    tsr_opt: float               # VS_TSRopt
    min_gen_speed: float         # rad/s, VS_MinOMSpd
    vs_ref_speed: float          # rad/s, VS_RefSpd
    pc_ref_speed: float          # rad/s, PC_RefSpd
    vs_kp: float                 # N m s / rad, VS_KP (negative)
    vs_ki: float                 # N m / rad, VS_KI (negative)
    min_torque: float            # N m, VS_MinTq
    rated_torque: float          # N m, VS_RtTq
    max_torque: float            # N m, VS_MaxTq
    max_torque_rate: float       # N m / s, VS_MaxRat
    gs_angles: jax.Array         # (n,) rad, PC_GS_angles
    gs_kp: jax.Array             # (n,) s, PC_GS_KP
    gs_ki: jax.Array             # (n,) -, PC_GS_KI
    fine_pitch: float            # rad, PC_MinPit
    max_pitch: float             # rad, PC_MaxPit
    max_pitch_rate: float        # rad/s, PC_MaxRat
    ps_wind: jax.Array           # (m,) m/s, PS_WindSpeeds (a flat table at PC_MinPit if PS_Mode 0)
    ps_pitch: jax.Array          # (m,) rad, PS_BldPitchMin
    ss_vs_gain: float            # SS_VSGain (0 when SS_Mode 0)
    ss_pc_gain: float            # SS_PCGain (0 when SS_Mode 0)
    ss_corner: float             # rad/s, F_SSCornerFreq
    lpf_corner: float            # rad/s, F_LPFCornerFreq
    lpf_damping: float           # F_LPFDamping (second-order filter)
    we_corner: float             # rad/s, F_WECornerFreq
    we_poles_v: jax.Array        # (k,) m/s, WE_FOPoles_v
    we_poles: jax.Array          # (k,) 1/s, WE_FOPoles
    tsr_grid: jax.Array          # (n_tsr,) the controller's Cp surface (PerfFileName)
    pitch_grid: jax.Array        # (n_pitch,) rad
    cp: jax.Array                # (1, n_tsr, n_pitch)
    const_power: bool = struct.field(pytree_node=False, default=False)   # VS_ConstPower
    second_order_filter: bool = struct.field(pytree_node=False, default=True)  # F_LPFType == 2


def rosco_controller_params(turbine: RoscoTurbine) -> RoscoControllerParams:
    """Controller settings from a loaded ROSCO turbine (raises unless VS_ControlMode is 2)."""
    s = TsrTrackingSettings.from_rosco(turbine)
    d = turbine.discon
    f32 = lambda x: jnp.asarray(np.atleast_1d(x), dtype=jnp.float32)  # noqa: E731
    ps_wind, ps_pitch = (s.ps_wind, s.ps_pitch) if s.ps_wind.size else ([0.0, 100.0], [s.fine_pitch] * 2)
    ss = d.get("SS_Mode", 0.0) == 1.0
    perf = turbine.performance
    return RoscoControllerParams(
        gearbox_ratio=turbine.gearbox_ratio, rotor_radius=turbine.rotor_radius, inertia=turbine.inertia,
        air_density=turbine.air_density, generator_efficiency=turbine.generator_efficiency,
        rated_power=turbine.rated_power, tsr_opt=s.tsr_opt, min_gen_speed=s.min_gen_speed,
        vs_ref_speed=s.vs_ref_speed, pc_ref_speed=s.pc_ref_speed,
        vs_kp=float(np.atleast_1d(d["VS_KP"])[0]), vs_ki=float(np.atleast_1d(d["VS_KI"])[0]),
        min_torque=s.min_torque, rated_torque=s.rated_torque, max_torque=s.max_torque,
        max_torque_rate=turbine.max_torque_rate,
        gs_angles=f32(d["PC_GS_angles"]), gs_kp=f32(d["PC_GS_KP"]), gs_ki=f32(d["PC_GS_KI"]),
        fine_pitch=turbine.min_pitch, max_pitch=turbine.max_pitch, max_pitch_rate=abs(turbine.max_pitch_rate),
        ps_wind=f32(ps_wind), ps_pitch=f32(ps_pitch),
        ss_vs_gain=float(d.get("SS_VSGain", 0.0)) if ss else 0.0,
        ss_pc_gain=float(d.get("SS_PCGain", 0.0)) if ss else 0.0,
        ss_corner=float(d.get("F_SSCornerFreq", 1.0)), lpf_corner=float(d["F_LPFCornerFreq"]),
        lpf_damping=float(d.get("F_LPFDamping", 0.7)), we_corner=float(d.get("F_WECornerFreq", 0.2)),
        we_poles_v=f32(d["WE_FOPoles_v"]), we_poles=f32(d["WE_FOPoles"]),
        tsr_grid=f32(perf.tsr), pitch_grid=f32(np.deg2rad(perf.pitch_deg)), cp=f32(perf.cp[None]),
        const_power=d.get("VS_ConstPower", 0.0) == 1.0, second_order_filter=d.get("F_LPFType", 1.0) == 2.0)


class RoscoCarry(NamedTuple):
    """Internal state of the ROSCO controller (float32)."""

    speed_in: jax.Array       # (2,) rad/s, last two generator-speed inputs of the filter
    speed_out: jax.Array      # (2,) rad/s, last two filtered outputs
    vs_integral: jax.Array    # N m, torque PI integrator
    pc_integral: jax.Array    # rad, pitch PI integrator
    ss_in: jax.Array          # rad/s, last setpoint-smoother input
    ss_out: jax.Array         # rad/s, filtered setpoint shift
    we_x: jax.Array           # (3,) EKF state (omega rad/s, v_t m/s, v_m m/s)
    we_p: jax.Array           # (3, 3) EKF covariance
    we_k: jax.Array           # (3,) last Kalman gain
    we_in: jax.Array          # m/s, last raw estimate
    we_out: jax.Array         # m/s, filtered estimate


def _lpf1(x: jax.Array, x_last: jax.Array, y_last: jax.Array, corner: float, dt: Any) -> jax.Array:
    """One step of a first-order low-pass filter (Tustin)."""
    a = corner * dt
    return (-(a - 2.0) * y_last + a * (x + x_last)) / (a + 2.0)


def _lpf2(x: jax.Array, x_in: jax.Array, y_out: jax.Array, corner: float, damping: float, dt: Any
          ) -> jax.Array:
    """One step of a second-order low-pass filter (Tustin); ``x_in``/``y_out`` = (last, before)."""
    w2 = (dt * corner) ** 2
    a2 = w2 + 4.0 + 4.0 * damping * corner * dt
    a1 = 2.0 * w2 - 8.0
    a0 = w2 + 4.0 - 4.0 * damping * corner * dt
    return (w2 * (x + 2.0 * x_in[0] + x_in[1]) - a1 * y_out[0] - a0 * y_out[1]) / a2


def estimator_torque(c: RoscoControllerParams, omega: jax.Array, pitch: jax.Array, wind: jax.Array
                     ) -> tuple[jax.Array, jax.Array]:
    """``(aerodynamic torque N m, Cp)`` the estimator's model predicts (rotor side)."""
    v = jnp.maximum(wind, 0.5)
    om = jnp.maximum(omega, 1e-3)
    cp = jnp.maximum(bilinear(c.tsr_grid, c.pitch_grid, c.cp, om * c.rotor_radius / v, pitch)[0], 0.0)
    return 0.5 * c.air_density * np.pi * c.rotor_radius**2 * cp * v**3 / om, cp


def balance_wind(c: RoscoControllerParams, omega: jax.Array, pitch: jax.Array, gen_torque: jax.Array
                 ) -> jax.Array:
    """m/s, the wind at which the estimator's model balances ``N gen_torque`` at ``omega`` and
    ``pitch`` (bisection on 1..60 m/s): the steady estimate, used to start the estimator."""
    target = c.gearbox_ratio * gen_torque

    def body(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        low = estimator_torque(c, omega, pitch, mid)[0] < target
        return jnp.where(low, mid, lo), jnp.where(low, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 40, body, (jnp.float32(1.0), jnp.float32(60.0)))
    return 0.5 * (lo + hi)


def _min_pitch(c: RoscoControllerParams, wind: jax.Array) -> jax.Array:
    return jnp.maximum(c.fine_pitch, jnp.interp(wind, c.ps_wind, c.ps_pitch))


def _smoother_input(c: RoscoControllerParams, last_pitch: jax.Array, min_pitch: jax.Array,
                    power: jax.Array) -> jax.Array:
    return ((last_pitch - min_pitch) / SS_PITCH_NORM * c.ss_vs_gain
            - (c.rated_power - power) / c.rated_power * c.ss_pc_gain) * c.pc_ref_speed


def rosco_init(c: RoscoControllerParams, rotor_speed: jax.Array, pitch: jax.Array, torque: jax.Array,
               pitch_command: jax.Array) -> RoscoCarry:
    """Carry that continues bumplessly from a turbine at ``rotor_speed`` (rad/s), ``pitch`` (rad),
    held ``torque`` (N m HSS) and ``pitch_command`` (rad): filters at the present values,
    integrators at the held commands, the estimator at the torque-balance wind."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    gen = c.gearbox_ratio * rotor_speed
    wind = balance_wind(c, rotor_speed, pitch, torque)
    shift = _smoother_input(c, pitch_command, _min_pitch(c, wind), c.generator_efficiency * torque * gen)
    return RoscoCarry(
        speed_in=f32(jnp.stack([gen, gen])), speed_out=f32(jnp.stack([gen, gen])),
        vs_integral=f32(torque), pc_integral=f32(pitch_command), ss_in=f32(shift), ss_out=f32(shift),
        we_x=f32(jnp.stack([rotor_speed, 0.0 * wind, wind])),
        we_p=f32(jnp.diag(jnp.array([0.01, 0.01, 1.0]))), we_k=jnp.zeros((3,), jnp.float32),
        we_in=f32(wind), we_out=f32(wind))


def _estimator_step(c: RoscoControllerParams, dt: Any, rotor_speed: jax.Array, pitch: jax.Array,
                    gen_torque: jax.Array, carry: RoscoCarry) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One EKF step: ``(state (3,), covariance (3, 3), gain (3,))``."""
    length = WE_LENGTH_FACTOR * c.rotor_radius
    om, v_t, v_m = carry.we_x[0], carry.we_x[1], carry.we_x[2]
    v_h = v_t + v_m
    pole = jnp.interp(v_h, c.we_poles_v, c.we_poles)
    tau, cp = estimator_torque(c, rotor_speed, pitch, v_h)
    dq_dv = 1.5 * c.air_density * np.pi * c.rotor_radius**2 * cp * v_h**2 / jnp.maximum(om, 1e-3) / c.inertia
    a = np.pi * v_m / (2.0 * length)
    jac = jnp.array([[pole, dq_dv, dq_dv],
                     [0.0, -a, -np.pi * v_t / (2.0 * length)],
                     [0.0, 0.0, 0.0]])
    q = jnp.diag(jnp.stack([jnp.float32(1e-5), np.pi * jnp.abs(v_m) ** 3 * WE_TI**2 / length,
                            jnp.float32(4.0 / 600.0)]))
    dx = jnp.stack([(tau - c.gearbox_ratio * gen_torque) / c.inertia, -a * v_t, 0.0 * v_m])
    x = carry.we_x + dt * dx
    k_last = carry.we_k[:, None]
    p = carry.we_p + dt * (jac @ carry.we_p + carry.we_p @ jac.T + q - WE_MEAS_VAR * k_last @ k_last.T)
    gain = p[:, 0] / (p[0, 0] + WE_MEAS_VAR)
    x = x + gain * (rotor_speed - x[0])
    p = p - gain[:, None] * p[0][None, :]
    return x, p, gain


def rosco_commands(c: RoscoControllerParams, dt: Any, pitch_cmd_max: Any, rotor_speed: jax.Array,
                   pitch: jax.Array, last_torque: jax.Array, last_pitch: jax.Array, carry: RoscoCarry
                   ) -> tuple[jax.Array, jax.Array, RoscoCarry]:
    """One step of the controller (module doc).

    Args:
        c: settings; ``dt``: control step (s); ``pitch_cmd_max``: upper end of the pitch command
            range (rad); ``rotor_speed``: measured rotor speed (rad/s); ``pitch``: measured pitch
            (rad); ``last_torque``/``last_pitch``: the held commands (N m HSS, rad).
    Returns:
        ``(torque_cmd N m, pitch_cmd rad, carry)``, rate limited from the held commands.
    """
    gen = c.gearbox_ratio * rotor_speed
    if c.second_order_filter:
        gen_f = _lpf2(gen, carry.speed_in, carry.speed_out, c.lpf_corner, c.lpf_damping, dt)
    else:
        gen_f = _lpf1(gen, carry.speed_in[0], carry.speed_out[0], c.lpf_corner, dt)

    we_x, we_p, we_k = _estimator_step(c, dt, rotor_speed, pitch, last_torque, carry)
    wind_raw = we_x[1] + we_x[2]
    wind = _lpf1(wind_raw, carry.we_in, carry.we_out, c.we_corner, dt)

    min_pitch = _min_pitch(c, wind)
    power = c.generator_efficiency * last_torque * gen_f
    shift_in = _smoother_input(c, last_pitch, min_pitch, power)
    shift = _lpf1(shift_in, carry.ss_in, carry.ss_out, c.ss_corner, dt)

    # torque: PI on the TSR-tracking reference
    vs_ref = jnp.clip(c.tsr_opt * wind / c.rotor_radius * c.gearbox_ratio, c.min_gen_speed, c.vs_ref_speed)
    vs_ref = jnp.maximum(vs_ref - jnp.maximum(shift, 0.0), c.min_gen_speed)
    vs_error = vs_ref - gen_f
    if c.const_power:
        torque_max = jnp.minimum(c.rated_power / c.generator_efficiency / jnp.maximum(gen_f, 1e-3), c.max_torque)
    else:
        torque_max = jnp.float32(c.rated_torque)
    vs_integral = jnp.clip(carry.vs_integral + dt * c.vs_ki * vs_error, c.min_torque, torque_max)
    torque = jnp.clip(c.vs_kp * vs_error + vs_integral, c.min_torque, torque_max)
    t_step = c.max_torque_rate * dt
    torque = last_torque + jnp.clip(torque - last_torque, -t_step, t_step)

    # pitch: gain-scheduled PI on PC_RefSpd, lower limit from peak shaving
    pc_error = c.pc_ref_speed - jnp.minimum(shift, 0.0) - gen_f
    max_pitch = jnp.minimum(c.max_pitch, pitch_cmd_max)
    kp = jnp.interp(last_pitch, c.gs_angles, c.gs_kp)
    ki = jnp.interp(last_pitch, c.gs_angles, c.gs_ki)
    pc_integral = jnp.clip(carry.pc_integral + dt * ki * pc_error, min_pitch, max_pitch)
    pitch_cmd = jnp.clip(kp * pc_error + pc_integral, min_pitch, max_pitch)
    p_step = c.max_pitch_rate * dt
    pitch_cmd = last_pitch + jnp.clip(pitch_cmd - last_pitch, -p_step, p_step)

    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    carry = RoscoCarry(
        speed_in=f32(jnp.stack([gen, carry.speed_in[0]])), speed_out=f32(jnp.stack([gen_f, carry.speed_out[0]])),
        vs_integral=f32(vs_integral), pc_integral=f32(pc_integral), ss_in=f32(shift_in), ss_out=f32(shift),
        we_x=f32(we_x), we_p=f32(we_p), we_k=f32(we_k), we_in=f32(wind_raw), we_out=f32(wind))
    return torque, pitch_cmd, carry
