"""Rotor, drivetrain and actuator dynamics of one turbine (pure functions, JAX and numpy).

Model (SI units; LSS = rotor side, HSS = generator side, ``N`` = gearbox ratio)
-------------------------------------------------------------------------------
- Aerodynamics from the rotor coefficient surfaces (ROSCO ``Cp_Ct_Cq`` format) at the
  tip-speed ratio ``lambda = omega R / U`` and collective pitch ``beta``, by bilinear interpolation
  over the (TSR, pitch) grid, clamped at the grid edges except above the highest TSR, where the
  last cell is extrapolated linearly (up to 1.5 x, ``bilinear``)::

      Q_aero = 0.5 rho pi R^3 U^2 Cq(lambda, beta) * cp_scale     (N m, LSS)
      T      = 0.5 rho pi R^2 U^2 Ct(lambda, beta) * ct_scale     (N, rotor thrust)
      P_aero = Q_aero * omega                                     (W)

- One-mass drivetrain (rotor, hub and generator inertia lumped on the LSS, ``J``)::

      J d(omega)/dt = Q_aero - N Q_gen,     omega >= 0

  integrated by explicit Euler with ``n_substeps`` substeps per control step.
- Generator: the torque command is clipped to ``[min_gen_torque, max_gen_torque]`` and its change
  per control step to ``max_torque_rate * dt``; electrical power ``P = eta Q_gen N omega``.
- Pitch actuator: first-order lag with time constant ``pitch_tau`` and rate limit
  ``pitch_rate_max``, position limits ``[min_pitch, max_pitch]``::

      d(beta)/dt = clip((beta_cmd - beta) / pitch_tau, -pitch_rate_max, pitch_rate_max)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.turbines.steady_state import TSR_EXTRAPOLATION


def bilinear(x_grid: Any, y_grid: Any, tables: Any, x: Any, y: Any, xp: Any = jnp) -> Any:
    """Bilinear interpolation of ``tables`` (shape ``(..., nx, ny)``) at ``(x, y)`` scalars.

    ``x_grid`` (nx,) and ``y_grid`` (ny,) are strictly increasing. Above the last ``x`` (tip-speed
    ratio: a rotor held at its minimum speed in light wind) the last cell is extrapolated
    linearly up to ``TSR_EXTRAPOLATION`` times the last ``x``; below the first ``x``, beyond that
    and outside the ``y`` range queries are clamped.
    Works with ``xp=jnp`` (jittable, traced ``x``, ``y``) and ``xp=np``. Returns shape ``(...)``.
    """
    x = xp.clip(x, x_grid[0], TSR_EXTRAPOLATION * x_grid[-1])
    y = xp.clip(y, y_grid[0], y_grid[-1])
    kw = {"method": "compare_all"} if xp is jnp else {}  # small grids: cheapest to compile and run
    i = xp.clip(xp.searchsorted(x_grid, x, side="right", **kw) - 1, 0, x_grid.shape[0] - 2)
    j = xp.clip(xp.searchsorted(y_grid, y, side="right", **kw) - 1, 0, y_grid.shape[0] - 2)
    tx = (x - x_grid[i]) / (x_grid[i + 1] - x_grid[i])
    ty = (y - y_grid[j]) / (y_grid[j + 1] - y_grid[j])
    f00 = tables[..., i, j]
    f01 = tables[..., i, j + 1]
    f10 = tables[..., i + 1, j]
    f11 = tables[..., i + 1, j + 1]
    return (f00 * (1 - tx) * (1 - ty) + f01 * (1 - tx) * ty + f10 * tx * (1 - ty) + f11 * tx * ty)


def aero_coefficients(params: Any, tsr: Any, pitch: Any, xp: Any = jnp) -> tuple[Any, Any, Any]:
    """``(Cp, Ct, Cq)`` at tip-speed ratio ``tsr`` and pitch ``pitch`` (rad), scaled by
    ``params.cp_scale`` (Cp, Cq) and ``params.ct_scale`` (Ct)."""
    c = bilinear(params.tsr_grid, params.pitch_grid, params.coefficients, tsr, pitch, xp=xp)
    return c[0] * params.cp_scale, c[1] * params.ct_scale, c[2] * params.cp_scale


def aero_loads(params: Any, wind: Any, omega: Any, pitch: Any, xp: Any = jnp) -> tuple[Any, Any]:
    """Aerodynamic rotor torque (N m, LSS) and thrust (N) at hub wind ``wind`` (m/s),
    rotor speed ``omega`` (rad/s) and pitch ``pitch`` (rad)."""
    u = xp.maximum(wind, 0.5)
    tsr = omega * params.rotor_radius / u
    _, ct, cq = aero_coefficients(params, tsr, pitch, xp=xp)
    q = 0.5 * params.air_density * np.pi * params.rotor_radius**3 * u**2
    torque = q * cq
    thrust = q / params.rotor_radius * ct
    return torque, thrust


def action_to_physical(action: jax.Array, params: Any, torque_setpoint: jax.Array,
                       pitch_setpoint: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Normalised action ``(a_torque, a_pitch)`` in [-1, 1]^2 -> new setpoints in physical units.

    ``params.action_mode == "rate"`` (default): the action moves the held setpoints,
    ``torque += a_torque * max_torque_rate * dt`` (N m, HSS) and
    ``pitch += a_pitch * pitch_cmd_rate * dt`` (rad), so zero holds them.
    ``"absolute"``: ``torque = min_gen_torque + (a+1)/2 (max_gen_torque - min_gen_torque)``,
    ``pitch = min_pitch + (a+1)/2 (pitch_cmd_max - min_pitch)``.
    Either way the setpoints are clipped to ``[min_gen_torque, max_gen_torque]`` and
    ``[min_pitch, pitch_cmd_max]``; out-of-range actions are clipped first.
    """
    a = jnp.clip(jnp.reshape(action, (2,)), -1.0, 1.0)
    if params.action_mode == "rate":
        torque = torque_setpoint + a[0] * params.max_torque_rate * params.dt
        pitch = pitch_setpoint + a[1] * params.pitch_cmd_rate * params.dt
    elif params.action_mode == "absolute":
        torque = params.min_gen_torque + 0.5 * (a[0] + 1.0) * (params.max_gen_torque - params.min_gen_torque)
        pitch = params.min_pitch + 0.5 * (a[1] + 1.0) * (params.pitch_cmd_max - params.min_pitch)
    else:
        raise ValueError(f"action_mode must be 'rate' or 'absolute', got {params.action_mode!r}")
    return (jnp.clip(torque, params.min_gen_torque, params.max_gen_torque),
            jnp.clip(pitch, params.min_pitch, params.pitch_cmd_max))


def physical_to_action(torque: jax.Array, pitch: jax.Array, params: Any, torque_setpoint: jax.Array,
                       pitch_setpoint: jax.Array) -> jax.Array:
    """Inverse of :func:`action_to_physical`: the float32 ``(2,)`` action in [-1, 1] that moves the
    held setpoints to ``(torque, pitch)`` (as far as the rate or range allows)."""
    if params.action_mode == "rate":
        a_t = (torque - torque_setpoint) / (params.max_torque_rate * params.dt)
        a_p = (pitch - pitch_setpoint) / (params.pitch_cmd_rate * params.dt)
    else:
        a_t = 2.0 * (torque - params.min_gen_torque) / (params.max_gen_torque - params.min_gen_torque) - 1.0
        a_p = 2.0 * (pitch - params.min_pitch) / (params.pitch_cmd_max - params.min_pitch) - 1.0
    return jnp.clip(jnp.stack([a_t, a_p]), -1.0, 1.0).astype(jnp.float32)


def torque_actuator(previous: jax.Array, command: jax.Array, params: Any) -> jax.Array:
    """Generator torque (N m, HSS) reached in one control step from ``previous`` toward ``command``."""
    step = params.max_torque_rate * params.dt
    torque = previous + jnp.clip(command - previous, -step, step)
    return jnp.clip(torque, params.min_gen_torque, params.max_gen_torque)


def pitch_actuator(pitch: jax.Array, command: jax.Array, dt: jax.Array, params: Any) -> jax.Array:
    """Pitch (rad) after ``dt`` s of the rate-limited first-order actuator."""
    command = jnp.clip(command, params.min_pitch, params.max_pitch)
    rate = jnp.clip((command - pitch) / params.pitch_tau, -params.pitch_rate_max, params.pitch_rate_max)
    return jnp.clip(pitch + rate * dt, params.min_pitch, params.max_pitch)


def rotor_substeps(params: Any, omega: jax.Array, pitch: jax.Array, pitch_cmd: jax.Array,
                   gen_torque: jax.Array, wind: jax.Array, n_substeps: int
                   ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Integrate rotor speed and pitch over one control step (``n_substeps`` Euler substeps).

    Returns ``(omega, pitch, aero_torque, thrust)`` at the end of the step (rad/s, rad, N m, N).
    """
    h = params.dt / n_substeps

    def body(_, carry):
        om, beta = carry
        q_aero, _ = aero_loads(params, wind, om, beta)
        om = jnp.maximum(om + h * (q_aero - params.gearbox_ratio * gen_torque) / params.inertia, 0.0)
        beta = pitch_actuator(beta, pitch_cmd, h, params)
        return om, beta

    omega, pitch = jax.lax.fori_loop(0, n_substeps, body, (omega, pitch), unroll=True)
    q_aero, thrust = aero_loads(params, wind, omega, pitch)
    return omega, pitch, q_aero, thrust


def steady_state_table(params: Any, torque_law: Callable[[np.ndarray], np.ndarray],
                       winds: np.ndarray, rated_gen_speed: float, rated_power_mech: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equilibrium operating points under a speed-to-torque law (numpy, host side).

    For each wind speed, below rated: pitch at ``min_pitch`` and the rotor speed where aerodynamic
    torque balances ``N * torque_law(N omega)``; where that speed would exceed rated, the rotor runs
    at ``rated_gen_speed / N`` and the pitch (>= min_pitch) brings aerodynamic power to
    ``rated_power_mech``. Used to start episodes near equilibrium (not as a reference for tests).
    ``params`` holds numpy arrays here (any object with the aerodynamic fields).

    Returns ``(omega (rad/s), pitch (rad), gen_torque (N m))``, each shaped like ``winds``.
    """
    n = float(params.gearbox_ratio)
    omega_rated = rated_gen_speed / n
    omegas = np.linspace(0.05 * omega_rated, omega_rated, 4000)
    pitches = np.linspace(float(params.min_pitch), np.deg2rad(45.0), 9001)
    out_omega, out_pitch, out_torque = [], [], []
    law = np.asarray(torque_law(omegas * n), dtype=np.float64)
    for u in np.asarray(winds, dtype=np.float64):
        q_aero = aero_loads(params, u, omegas, np.full_like(omegas, float(params.min_pitch)), xp=np)[0]
        surplus = q_aero - n * law
        if surplus[-1] <= 0.0:           # below rated: stable crossing (surplus goes + to -)
            idx = np.nonzero((surplus[:-1] > 0) & (surplus[1:] <= 0))[0]
            k = int(idx[-1]) if idx.size else 0
            frac = surplus[k] / (surplus[k] - surplus[k + 1]) if idx.size else 0.0
            om = omegas[k] + frac * (omegas[k + 1] - omegas[k])
            beta = float(params.min_pitch)
            torque = float(np.interp(om, omegas, law))
        else:                            # above rated: pitch to hold rated power at rated speed
            om = omega_rated
            power = aero_loads(params, u, np.full_like(pitches, om), pitches, xp=np)[0] * om
            above = power > rated_power_mech
            k = int(np.nonzero(above)[0][-1]) if above.any() else 0
            k = min(k, pitches.size - 2)
            frac = (power[k] - rated_power_mech) / max(power[k] - power[k + 1], 1e-9)
            beta = float(pitches[k] + np.clip(frac, 0.0, 1.0) * (pitches[k + 1] - pitches[k]))
            torque = rated_power_mech / (om * n)
        out_omega.append(om)
        out_pitch.append(beta)
        out_torque.append(torque)
    return np.asarray(out_omega), np.asarray(out_pitch), np.asarray(out_torque)
