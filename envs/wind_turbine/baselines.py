"""The reference controller of the NREL 5-MW turbine (Jonkman et al. 2009, NREL/TP-500-38060,
chapter 7) with the published settings of ROSCO's ``DISCON.IN``.

Generator torque (HSS), from the filtered generator speed ``w`` (rad/s):

- region 1 (``w <= cut_in_speed``): 0;
- region 1.5 (``cut_in_speed < w < rgn2_start_speed``): linear from 0 to the region-2 curve;
- region 2 (``rgn2_start_speed <= w < trans_speed``): ``k w^2`` with ``k = VS_Rgn2K``;
- region 2.5 (``trans_speed <= w < rgn3_speed``): the straight line of a 10 %-slip induction
  generator through ``(sync_speed, 0)`` and ``(rgn3_speed, rated_power_mech / rgn3_speed)``;
- region 3 (``w >= rgn3_speed`` or the last pitch command ``>= PC_Switch``): constant power
  ``rated_power_mech / w``, ``rated_power_mech = VS_RtPwr / (VS_GenEff / 100)``;

then clipped to ``[VS_MinTq, VS_MaxTq]`` and to the rate ``VS_MaxRat``.

Blade pitch: a PI controller on the speed error ``e = PC_RefSpd - w`` with gains scheduled on the
last pitch command by the ``PC_GS_angles``/``PC_GS_KP``/``PC_GS_KI`` table (ROSCO sign
convention: negative gains), integrator clamped to ``[PC_MinPit, PC_MaxPit]`` (anti-windup), command
clipped to the same limits and to the rate ``PC_MaxRat``.

From DISCON.IN: ``VS_Rgn2K``, ``VS_RtPwr``, ``VS_GenEff``, ``VS_RefSpd``, ``VS_MaxTq``, ``VS_MinTq``,
``VS_MaxRat``, ``PC_RefSpd``, ``PC_Switch``, the pitch gain schedule and limits, and (in the env)
the speed filter corner ``F_LPFCornerFreq``. From the 2009 report (not in DISCON.IN, whose ROSCO
torque mode is TSR tracking): the region-1.5 speeds (670 and 871 rpm), the region-3 switch at
99 % of rated speed and the 10 % generator slip of region 2.5.

Not modelled: ROSCO's wind-speed estimator, TSR tracking, setpoint smoother and peak shaving
(``PS_BldPitchMin``); the 2009 controller has none of them.

The controller reads the twin's observation (filtered rotor speed, the held torque and pitch
setpoints, which are its own last commands, and the episode progress; see ``env.WindTurbine``) and
keeps the pitch integrator in the carry. A new episode (episode progress smaller than at the last
call) restarts the integrator bumplessly from the held pitch setpoint. Its commands are rate limited to ``VS_MaxRat`` and
``PC_MaxRat``, so in the twin's default ``rate`` action mode they are represented exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from twingym.envs.core import Baseline
from twingym.envs.turbines.rosco import RoscoTurbine
from twingym.envs.wind_turbine.dynamics import physical_to_action
from twingym.envs.wind_turbine.rosco_controller import RoscoControllerParams, rosco_commands, rosco_init

RPM = np.pi / 30.0  # rad/s per rpm

#: indices of the observation components the controller reads (see ``env.WindTurbine``).
OBS_SPEED, OBS_SPEED_FILTERED, OBS_PITCH, OBS_TORQUE_SETPOINT, OBS_PITCH_SETPOINT, OBS_PROGRESS = 0, 1, 2, 5, 6, 7


@struct.dataclass
class ReferenceControllerParams:
    """Settings of the reference controller (SI units, generator speeds on the HSS in rad/s)."""

    rgn2_k: float                # N m / (rad/s)^2, VS_Rgn2K
    cut_in_speed: float          # rad/s, region 1 -> 1.5 (670 rpm, Jonkman 2009)
    rgn2_start_speed: float      # rad/s, region 1.5 -> 2 (871 rpm, Jonkman 2009)
    trans_speed: float           # rad/s, region 2 -> 2.5 (intersection of k w^2 and the 2.5 line)
    rgn3_speed: float            # rad/s, 99 % of VS_RefSpd
    sync_speed: float            # rad/s, rgn3_speed / 1.1 (10 % slip)
    slope15: float               # N m / (rad/s)
    slope25: float               # N m / (rad/s)
    rated_power_mech: float      # W, VS_RtPwr / generator efficiency
    min_torque: float            # N m, VS_MinTq
    max_torque: float            # N m, VS_MaxTq
    max_torque_rate: float       # N m / s, VS_MaxRat
    ref_speed: float             # rad/s, PC_RefSpd
    pc_switch: float             # rad, PC_Switch (region-3 torque once pitch command exceeds it)
    gs_angles: jax.Array         # (n,) rad, gain schedule breakpoints
    gs_kp: jax.Array             # (n,) s, proportional gains (negative)
    gs_ki: jax.Array             # (n,) -, integral gains (negative)
    min_pitch: float             # rad, PC_MinPit
    max_pitch: float             # rad, PC_MaxPit
    max_pitch_rate: float        # rad/s, PC_MaxRat


def reference_controller_params(turbine: RoscoTurbine) -> ReferenceControllerParams:
    """Build the controller settings from a loaded ROSCO turbine (DISCON.IN values)."""
    d = turbine.discon
    k = float(d["VS_Rgn2K"])
    rated_mech = turbine.rated_power / turbine.generator_efficiency
    rgn3 = 0.99 * turbine.rated_gen_speed
    sync = rgn3 / 1.10
    slope25 = (rated_mech / rgn3) / (rgn3 - sync)
    trans = (slope25 - np.sqrt(slope25 * (slope25 - 4.0 * k * sync))) / (2.0 * k)
    cut_in, rgn2 = 670.0 * RPM, 871.0 * RPM
    slope15 = k * rgn2**2 / (rgn2 - cut_in)
    f32 = lambda x: jnp.asarray(np.atleast_1d(x), dtype=jnp.float32)  # noqa: E731
    return ReferenceControllerParams(
        rgn2_k=k, cut_in_speed=cut_in, rgn2_start_speed=rgn2, trans_speed=float(trans),
        rgn3_speed=rgn3, sync_speed=sync, slope15=slope15, slope25=slope25,
        rated_power_mech=rated_mech, min_torque=turbine.min_gen_torque,
        max_torque=turbine.max_gen_torque, max_torque_rate=turbine.max_torque_rate,
        ref_speed=float(d["PC_RefSpd"]), pc_switch=float(d["PC_Switch"]),
        gs_angles=f32(d["PC_GS_angles"]), gs_kp=f32(d["PC_GS_KP"]), gs_ki=f32(d["PC_GS_KI"]),
        min_pitch=turbine.min_pitch, max_pitch=turbine.max_pitch,
        max_pitch_rate=abs(turbine.max_pitch_rate))


def torque_law(c: ReferenceControllerParams, gen_speed: Any, pitch_command: Any = 0.0,
               xp: Any = jnp) -> Any:
    """Generator torque (N m, HSS) of the 2009 law at generator speed ``gen_speed`` (rad/s),
    before rate limiting. ``pitch_command`` (rad) switches to region 3 above ``pc_switch``."""
    w = gen_speed
    rgn15 = c.slope15 * (w - c.cut_in_speed)
    rgn2 = c.rgn2_k * w**2
    rgn25 = c.slope25 * (w - c.sync_speed)
    rgn3 = c.rated_power_mech / xp.maximum(w, 1e-3)
    torque = xp.where(w <= c.cut_in_speed, 0.0,
                      xp.where(w < c.rgn2_start_speed, rgn15,
                               xp.where(w < c.trans_speed, rgn2, rgn25)))
    region3 = (w >= c.rgn3_speed) | (pitch_command >= c.pc_switch)
    torque = xp.where(region3, rgn3, torque)
    return xp.clip(torque, c.min_torque, c.max_torque)


def reference_commands(c: ReferenceControllerParams, dt: Any, pitch_cmd_max: Any, gen_speed: jax.Array,
                       last_torque: jax.Array, last_pitch: jax.Array, integrator: jax.Array
                       ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One step of the reference controller in physical units (jittable).

    Args:
        c: controller settings; ``dt``: control step (s); ``pitch_cmd_max``: upper end of the pitch
            command range (rad); ``gen_speed``: filtered generator speed (rad/s, HSS);
            ``last_torque``/``last_pitch``: the held setpoints (N m HSS, rad); ``integrator``: the
            pitch integrator (rad).
    Returns:
        ``(torque_cmd, pitch_cmd, integrator)``: new setpoints (N m, rad), rate limited to
        ``VS_MaxRat`` and ``PC_MaxRat`` from the held ones, and the updated integrator.
    """
    max_pitch = jnp.minimum(c.max_pitch, pitch_cmd_max)

    # gain-scheduled PI pitch control (ROSCO sign convention: e = ref - speed, gains < 0)
    error = c.ref_speed - gen_speed
    kp = jnp.interp(last_pitch, c.gs_angles, c.gs_kp)
    ki = jnp.interp(last_pitch, c.gs_angles, c.gs_ki)
    integrator = jnp.clip(integrator + ki * error * dt, c.min_pitch, max_pitch)
    pitch_cmd = jnp.clip(kp * error + integrator, c.min_pitch, max_pitch)
    max_step = c.max_pitch_rate * dt
    pitch_cmd = last_pitch + jnp.clip(pitch_cmd - last_pitch, -max_step, max_step)

    # variable-speed torque control (regions 1 .. 3), rate limited
    torque_cmd = torque_law(c, gen_speed, last_pitch)
    t_step = c.max_torque_rate * dt
    torque_cmd = last_torque + jnp.clip(torque_cmd - last_torque, -t_step, t_step)
    return torque_cmd, pitch_cmd, integrator


class Measurements(NamedTuple):
    """What a controller reads from the twin's observation, in SI units (float32 scalars)."""

    rotor_speed: jax.Array          # rad/s, measured (LSS)
    gen_speed_filtered: jax.Array   # rad/s, the twin's low-passed generator speed (HSS)
    pitch: jax.Array                # rad, measured collective pitch
    torque_setpoint: jax.Array      # N m, HSS, the held torque command
    pitch_setpoint: jax.Array       # rad, the held pitch command


def measurements(obs: jax.Array, params: Any) -> Measurements:
    """Controller inputs from an observation of ``env.WindTurbine``."""
    return Measurements(
        rotor_speed=obs[OBS_SPEED] * RPM, gen_speed_filtered=obs[OBS_SPEED_FILTERED] * RPM * params.gearbox_ratio,
        pitch=jnp.deg2rad(obs[OBS_PITCH]), torque_setpoint=obs[OBS_TORQUE_SETPOINT] * 1e3,
        pitch_setpoint=jnp.deg2rad(obs[OBS_PITCH_SETPOINT]))


@dataclass(frozen=True)
class ControllerKind:
    """A reference controller the twin can fly: bumpless start and one step.

    ``init(c, m) -> carry`` continues from the turbine as measured; ``commands(c, dt,
    pitch_cmd_max, m, carry) -> (torque N m, pitch rad, carry)`` is one control step, rate limited
    from the held commands (so rate actions represent it exactly).
    """

    description: str
    init: Callable[[Any, Measurements], Any]
    commands: Callable[[Any, Any, Any, Measurements, Any], tuple[jax.Array, jax.Array, Any]]


def _jonkman_commands(c, dt, pitch_cmd_max, m: Measurements, integrator):
    return reference_commands(c, dt, pitch_cmd_max, m.gen_speed_filtered, m.torque_setpoint,
                              m.pitch_setpoint, integrator)


def _rosco_commands(c, dt, pitch_cmd_max, m: Measurements, carry):
    return rosco_commands(c, dt, pitch_cmd_max, m.rotor_speed, m.pitch, m.torque_setpoint,
                          m.pitch_setpoint, carry)


#: controller settings type -> how to fly it.
CONTROLLER_KINDS: dict[type, ControllerKind] = {
    ReferenceControllerParams: ControllerKind(
        description="NREL 5-MW reference controller (Jonkman et al. 2009): region-2 k*w^2 torque, "
                    "region 1.5/2.5 transitions, gain-scheduled PI pitch, gains from ROSCO DISCON.IN",
        init=lambda c, m: m.pitch_setpoint, commands=_jonkman_commands),
    RoscoControllerParams: ControllerKind(
        description="ROSCO controller from DISCON.IN (Abbas et al. 2022): TSR tracking with the EKF "
                    "wind-speed estimator, minimum rotor speed, peak shaving, setpoint smoother, "
                    "gain-scheduled PI pitch",
        init=lambda c, m: rosco_init(c, m.rotor_speed, m.pitch, m.torque_setpoint, m.pitch_setpoint),
        commands=_rosco_commands),
}


def controller_kind(controller: Any) -> ControllerKind:
    """The :class:`ControllerKind` of a controller-settings object."""
    try:
        return CONTROLLER_KINDS[type(controller)]
    except KeyError:
        raise TypeError(f"no reference controller for settings of type {type(controller).__name__}") from None


class ControllerCarry(NamedTuple):
    """The reference controller's carry: its own state (a pytree of float32 arrays; for the 2009
    controller the pitch integrator, rad) and the last episode progress seen."""

    state: Any
    progress: jax.Array


def controller_init(params: Any) -> ControllerCarry:
    """Fresh carry; the first ``act`` restarts the controller from the turbine as observed."""
    kind = controller_kind(params.controller)
    zero = jnp.zeros((), jnp.float32)
    state = kind.init(params.controller, Measurements(zero, zero, zero, zero, zero))
    state = jax.tree.map(lambda x: jnp.zeros_like(jnp.asarray(x, jnp.float32)), state)
    return ControllerCarry(state, jnp.asarray(np.inf, jnp.float32))


def controller_act(carry: ControllerCarry, obs: jax.Array, params: Any
                   ) -> tuple[jax.Array, ControllerCarry]:
    """One control step: observation -> normalised action ``(torque, pitch)`` in [-1, 1]^2.

    In the twin's ``residual`` action mode the twin applies this controller itself and the action
    is a correction on top of it, so the controller's own action there is zero (its carry is kept
    all the same). A new episode (progress going back) restarts it bumplessly."""
    c = params.controller
    kind = controller_kind(c)
    m = measurements(obs, params)
    restart = obs[OBS_PROGRESS] < carry.progress
    state = jax.tree.map(lambda fresh, old: jnp.where(restart, fresh, old).astype(jnp.float32),
                         kind.init(c, m), carry.state)
    torque_cmd, pitch_cmd, state = kind.commands(c, params.dt, params.pitch_cmd_max, m, state)
    if params.action_mode == "residual":
        action = jnp.zeros((2,), jnp.float32)
    else:
        action = physical_to_action(torque_cmd, pitch_cmd, params, m.torque_setpoint, m.pitch_setpoint)
    state = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), state)
    return action, ControllerCarry(state, jnp.asarray(obs[OBS_PROGRESS], jnp.float32))


REFERENCE_CONTROLLER = "reference_controller"


def wind_turbine_baselines() -> dict[str, Baseline]:
    """The twin's classical controllers by name: the turbine's own reference controller (the 2009
    NREL 5-MW controller or DISCON's ROSCO controller, whichever the params hold)."""
    return {REFERENCE_CONTROLLER: Baseline(
        name=REFERENCE_CONTROLLER, init=controller_init, act=controller_act,
        description="the turbine's reference controller: "
                    + "; or ".join(k.description for k in CONTROLLER_KINDS.values()))}
