"""WindFarm-v0: yaw-based wake steering on a wind farm in an evolving wind.

One step is ``dt`` = 30 s; an episode is ``max_steps`` = 120 steps (one hour). The steady wake
model of :mod:`twingym.envs.wind_farm.farm` (FLORIS-grade Gaussian wakes, NREL 5-MW turbines)
gives the turbine powers at every step for the current wind and yaw angles; the dynamics come
from the wind, the sensors, the yaw actuators and the wake advection delay:

- Wind direction (deg, meteorological): a per-episode mean drawn in ``[wd_low, wd_high]``
  (260-280: a prevailing westerly sector, the rows lined up with its centre), a linear drift at
  a rate drawn per episode (``N(wd_drift_rate, wd_drift_std)`` deg/s), plus an
  Ornstein-Uhlenbeck fluctuation (stationary std ``wd_fluct_std``, time constant
  ``wd_fluct_tau``).
- Wind speed (m/s at hub height): mean drawn in ``[ws_low, ws_high]``, an OU fluctuation
  (``ws_fluct_std``, ``ws_fluct_tau``) and gusts: Poisson arrivals (``gust_rate`` per second)
  adding an exponentially distributed bump (mean ``gust_amplitude``) that decays with
  ``gust_tau``. Turbulence intensity is drawn per episode in ``[ti_low, ti_high]``.
- Sensors: each turbine's wind vane reads the direction with white noise
  (``wd_noise_std * sensor_noise``) and is low-pass filtered (``vane_tau``); each nacelle
  anemometer reads its own (waked) rotor-average speed with noise; a met mast reads the free
  stream speed and TI.
- Yaw actuators: the action is each turbine's yaw-offset setpoint relative to its filtered vane
  reading; the nacelle heading turns towards ``vane - offset`` at most ``yaw_rate`` deg/s.
- Wake advection: turbine ``i``'s wake reaches the next rotor downstream (within 2 D of its
  axis, ``dx`` metres away) after ``wake_delay * dx / U`` seconds, so the wake model sees the
  yaw angle ``i`` had that long ago (rounded to steps, up to ``YAW_HISTORY - 1``;
  ``wake_delay = 0`` makes wakes instantaneous).

Yaw misalignment ``gamma = wind direction - nacelle heading`` (deg) uses FLORIS v4's sign:
positive turns the rotor counterclockwise seen from above and pushes the wake to the right
looking downwind.

Observation (float32, shape ``(4 n + 5,)``; per turbine ``j`` the block ``4j .. 4j+3``):
  ``[4j]``   wind_direction_j  filtered vane reading, deg, [0, 360)
  ``[4j+1]`` wind_speed_j      nacelle anemometer (waked rotor-average speed), m/s, [0, 40]
  ``[4j+2]`` yaw_offset_j      vane reading - nacelle heading, deg, [-180, 180]
  ``[4j+3]`` power_j           electrical power, MW, [0, 30]
  then the site block:
  ``[4n]``   wind_direction    circular mean of the vane readings, deg, [0, 360)
  ``[4n+1]`` wind_direction_sin, ``[4n+2]`` wind_direction_cos of it, [-1, 1]
  ``[4n+3]`` wind_speed        met-mast free-stream speed, m/s, [0, 40]
  ``[4n+4]`` turbulence_intensity  met-mast TI, [0, 0.5]
  and in the residual action mode (``action_mode = "residual"``, shape ``(5 n + 5,)``):
  ``[4n+5+j]`` table_yaw_offset_j  the wake-steering table's offset at this observation, deg,
  [-25, 25]

Action (float32, shape ``(n,)``): yaw-offset setpoint of each turbine, deg, in
``[-max_yaw_offset, max_yaw_offset]`` = [-25, 25] (0 = face the measured wind). With
``action_mode = "residual"`` the action is instead a correction (deg, same box) on top of the
wake-steering table's offsets at the last observed site direction and speed, the sum clipped to
the same box: 0 is the table controller (:mod:`twingym.envs.wind_farm.residual`).

Reward per step: ``(P_farm - b P_avail) / (n P_rated) - travel_weight * mean_j |dheading_j| /
(yaw_rate dt) - load_weight * mean_j (gamma_j / max_yaw_offset)^2 - violation_weight * cost``:
farm power relative to rated minus yaw travel, a misalignment load proxy and the limit
violations, with the available power ``P_avail`` (``n`` unwaked, aligned turbines in the same
free stream) subtracted as a baseline when ``available_power_baseline`` = b = 1 (default).
``P_avail`` does not depend on the actions, so the baseline changes neither the best policy nor
the difference between two policies' returns on the same wind; it removes the wind's own
variability (power ~ U^3) from the learning signal, leaving the wake and yaw losses: the reward
is then <= 0, and 0 would be a farm without losses. ``info["cost"]``: fraction of turbines whose
true misalignment exceeds ``misalignment_limit`` (30 deg). Episodes never terminate; they
truncate after ``max_steps``. The first observation of an episode reports unwaked turbines
(free-stream speed and power); wakes enter from the first step on.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs import spaces
from twingym.envs.core import Baseline, Label, TwinEnv
from twingym.envs.wind_farm import layouts, residual
from twingym.envs.wind_farm import turbine as tb
from twingym.envs.wind_farm.farm import (
    FarmModel,
    free_stream_rotor_velocity,
    rotate_to_wind,
    vmappable_solve_condition,
)
from twingym.envs.wind_farm.types import WindFarmParams, WindFarmState

YAW_HISTORY = 8          # steps of yaw history kept for the wake advection delay
OBS_PER_TURBINE = 4
OBS_SITE = 5
MAX_SPEED = 40.0         # m/s, observation bound
MAX_TI = 0.5
MAX_POWER_MW = 30.0     # MW, observation bound of a turbine's power (any turbine up to 30 MW)


def wrap180(angle: jax.Array) -> jax.Array:
    """Angle (deg) wrapped into [-180, 180)."""
    return jnp.mod(angle + 180.0, 360.0) - 180.0



def _ou(z, x, std, tau, dt):
    """Exact OU update with stationary std ``std`` and time constant ``tau`` (``z`` ~ N(0, 1))."""
    a = jnp.exp(-dt / tau)
    return a * x + std * jnp.sqrt(1.0 - a * a) * z


class WindFarm(TwinEnv[WindFarmState, WindFarmParams]):
    __doc__ = __doc__
    reference_baseline = "greedy"
    residual_controller = "wake_steering"   # the table the residual correction is added to

    # ---- params --------------------------------------------------------------------------------
    def default_params(self) -> WindFarmParams:
        return self.make_params()

    def make_params(self, **overrides: Any) -> WindFarmParams:
        """Params with shape-defining options applied first, then plain field overrides.

        Layout options: ``layout`` = ``"grid"`` (default; ``rows``=3, ``cols``=3,
        ``spacing_d``=5.0) or ``"random"`` (``n_turbines``, ``min_spacing_d``=3.0,
        ``layout_seed``=0), or explicit ``layout_x``/``layout_y`` (m). ``turbine``: a bundled
        turbine name (default ``"nrel_5MW_rosco"``; ``"iea_15MW_rosco"``; ``"nrel_5MW"`` is
        FLORIS's table), a FLORIS turbine YAML or spec path, or a ``DISCON.IN`` path.
        """
        opts = {k: overrides.pop(k) for k in ("layout", "rows", "cols", "spacing_d", "n_turbines",
                                              "min_spacing_d", "layout_seed", "turbine")
                if k in overrides}
        turbine = tb.turbine_model(opts.get("turbine", "nrel_5MW_rosco"))
        diameter = float(turbine.rotor_diameter)
        if "layout_x" in overrides or "layout_y" in overrides:
            if "layout_x" not in overrides or "layout_y" not in overrides:
                raise ValueError("give both layout_x and layout_y")
            x, y = layouts.custom_layout(overrides.pop("layout_x"), overrides.pop("layout_y"),
                                         diameter=diameter)
        elif opts.get("layout", "grid") == "grid":
            x, y = layouts.grid_layout(int(opts.get("rows", 3)), int(opts.get("cols", 3)),
                                       float(opts.get("spacing_d", 5.0)), diameter)
        elif opts.get("layout") == "random":
            x, y = layouts.random_layout(int(opts.get("n_turbines", 9)),
                                         float(opts.get("min_spacing_d", 3.0)), diameter=diameter,
                                         seed=int(opts.get("layout_seed", 0)))
        else:
            raise ValueError(f"unknown layout {opts['layout']!r}; use 'grid' or 'random' or "
                             "give layout_x and layout_y")
        params = WindFarmParams(layout_x=jnp.asarray(x), layout_y=jnp.asarray(y),
                                model=FarmModel(turbine=turbine))
        max_steps = overrides.pop("max_steps", None)
        if max_steps is not None:
            params = params.replace(max_steps=int(max_steps))
        return residual.with_table(self.replace_params(params, **overrides))

    def replace_params(self, params: WindFarmParams, **overrides: Any) -> WindFarmParams:
        """Fields replaced; in the residual action mode the table follows the fields it depends on."""
        return residual.with_table(super().replace_params(params, **overrides), set(overrides))

    # ---- physics -------------------------------------------------------------------------------
    def _flow(self, params: WindFarmParams, state: WindFarmState):
        """True powers (W) and rotor speeds (m/s) for the state's wind and yaw history.

        Wake advection: source ``i``'s wake carries the yaw ``i`` had ``lag_i`` steps ago, with
        ``lag_i = wake_delay * dx / (U dt)`` for ``dx`` the distance to the nearest turbine
        downstream of ``i`` within 2 D of its axis (the first rotor its wake reaches; farther
        rotors see the same lag). One lag per source keeps the sweep as cheap as the steady
        model's; a lag per (source, target) pair costs several times more.
        """
        n = params.n_turbines
        wd, ws = state.wind_direction, state.wind_speed
        gamma = jnp.clip(state.yaw_hist[0], -80.0, 80.0)
        xr, yr = rotate_to_wind(params.layout_x, params.layout_y, wd)
        dx = xr[None, :] - xr[:, None]                                   # (source, target)
        in_wake = (dx > 1.0) & (jnp.abs(yr[None, :] - yr[:, None])
                                < 2.0 * params.model.turbine.rotor_diameter)
        reach = jnp.min(jnp.where(in_wake, dx, jnp.inf), axis=1)         # (source,)
        reach = jnp.where(jnp.isfinite(reach), reach, 0.0)
        lag = jnp.clip(jnp.round(params.wake_delay * reach / (ws * params.dt)), 0, YAW_HISTORY - 1)
        hist = jnp.clip(state.yaw_hist, -80.0, 80.0)
        wake_yaw = hist[lag.astype(jnp.int32), jnp.arange(n)][:, None]  # (source, 1)
        sol = vmappable_solve_condition(params.model, params.layout_x, params.layout_y, wd, ws,
                                        state.ti, gamma, wake_yaw)
        return sol.power * params.power_curve_scale, sol.rotor_velocity

    def _rated_farm_power(self, params: WindFarmParams) -> jax.Array:
        return params.n_turbines * params.model.turbine.rated_power

    def _obs(self, z: jax.Array, params: WindFarmParams, state: WindFarmState) -> jax.Array:
        """Noisy measurements of ``state``; ``z`` holds ``2 n + 2`` standard normal draws."""
        n = params.n_turbines
        noise = params.sensor_noise
        rated = params.model.turbine.rated_power
        ws_meas = state.rotor_speed + noise * params.ws_noise_std * z[:n]
        p_meas = state.power + noise * params.power_noise_std * rated * z[n:2 * n]
        vane_rad = jnp.deg2rad(state.vane)
        s, c = jnp.mean(jnp.sin(vane_rad)), jnp.mean(jnp.cos(vane_rad))
        site_wd = jnp.mod(jnp.rad2deg(jnp.arctan2(s, c)), 360.0)
        norm = jnp.maximum(jnp.hypot(s, c), 1e-6)
        mast_ws = state.wind_speed + noise * params.ws_noise_std * z[2 * n]
        mast_ti = state.ti + noise * params.ti_noise_std * z[2 * n + 1]
        per_turbine = jnp.stack([jnp.mod(state.vane, 360.0), ws_meas,
                                 wrap180(state.vane - state.heading), p_meas / 1e6], axis=1)
        site = jnp.stack([site_wd, s / norm, c / norm, mast_ws, mast_ti])
        obs = jnp.concatenate([per_turbine.reshape(-1), site]).astype(jnp.float32)
        low, high = self._obs_bounds(n)
        return jnp.clip(obs, low, high)

    # ---- API -----------------------------------------------------------------------------------
    def reset_env(self, key, params):
        n = params.n_turbines
        # one draw of each kind for everything random (each draw compiles its own RNG kernel)
        k_u, k_z = jax.random.split(key)
        u = jax.random.uniform(k_u, (3,))
        z = jax.random.normal(k_z, (3 + 2 * n + 2 * n + 2,))
        wd_mean = params.wd_low + u[0] * (params.wd_high - params.wd_low)
        wd_drift = params.wd_drift_rate + params.wd_drift_std * z[0]
        wd_fluct = params.wd_fluct_std * z[1]
        ws_mean = params.ws_low + u[1] * (params.ws_high - params.ws_low)
        ws_fluct = params.ws_fluct_std * z[2]
        ti = params.ti_low + u[2] * (params.ti_high - params.ti_low)
        wd = jnp.mod(wd_mean + wd_fluct, 360.0)
        heading = jnp.mod(wd + 3.0 * z[3:3 + n], 360.0)
        alpha = params.dt / (params.vane_tau + params.dt)
        filtered_std = params.sensor_noise * params.wd_noise_std * jnp.sqrt(alpha / (2.0 - alpha))
        vane = jnp.mod(wd + filtered_std * z[3 + n:3 + 2 * n], 360.0)
        gamma = wrap180(wd - heading)
        state = WindFarmState(
            time=jnp.int32(0), wd_mean=wd_mean, wd_drift=wd_drift, wd_fluct=wd_fluct,
            ws_mean=ws_mean, ws_fluct=ws_fluct, gust=jnp.float32(0.0), ti=ti, heading=heading,
            vane=vane, yaw_hist=jnp.broadcast_to(gamma, (YAW_HISTORY, n)),
            power=jnp.zeros(n), rotor_speed=jnp.zeros(n), site_measured=jnp.zeros(2))
        # The first measurements are those of unwaked turbines at the free-stream speed: the wake
        # model runs from the first step on. (``step`` calls ``reset_env`` at every step for the
        # auto-reset, so a wake solve here would double the cost of every step.)
        speed = jnp.full((n,), state.wind_speed)
        power = tb.power(params.model.turbine, speed, jnp.clip(gamma, -80.0, 80.0),
                         params.model.air_density) * params.power_curve_scale
        state = state.replace(power=power, rotor_speed=speed)
        return self._observe(z[3 + 2 * n:], params, state)

    def _observe(self, z: jax.Array, params: WindFarmParams, state: WindFarmState
                 ) -> tuple[jax.Array, WindFarmState]:
        """The observation of ``state`` and the state remembering its site direction and speed
        (what the residual mode's table reads, as the ``wake_steering`` baseline does)."""
        obs = self._obs(z, params, state)
        n = params.n_turbines
        state = state.replace(site_measured=jnp.stack([obs[4 * n], obs[4 * n + 3]]))
        return residual.observation(params, state.site_measured, obs), state

    def step_env(self, key, state, action, params):
        n = params.n_turbines
        dt = params.dt
        k_z, k_u = jax.random.split(key)
        z = jax.random.normal(k_z, (2 + n + 2 * n + 2,))
        u = jax.random.uniform(k_u, (2,), minval=1e-7, maxval=1.0)
        offset = residual.applied_offsets(params, state.site_measured, action)
        # yaw actuators: turn towards vane - offset at the rate limit
        target = state.vane - offset
        max_turn = params.yaw_rate * dt
        turn = jnp.clip(wrap180(target - state.heading), -max_turn, max_turn)
        heading = jnp.mod(state.heading + turn, 360.0)
        # wind
        wd_mean = state.wd_mean + state.wd_drift * dt
        wd_fluct = _ou(z[0], state.wd_fluct, params.wd_fluct_std, params.wd_fluct_tau, dt)
        ws_fluct = _ou(z[1], state.ws_fluct, params.ws_fluct_std, params.ws_fluct_tau, dt)
        gust_hit = u[0] < 1.0 - jnp.exp(-params.gust_rate * dt)
        gust = (state.gust * jnp.exp(-dt / params.gust_tau)
                + gust_hit * params.gust_amplitude * -jnp.log(u[1]))
        moved = state.replace(time=state.time + 1, wd_mean=wd_mean, wd_fluct=wd_fluct,
                              ws_fluct=ws_fluct, gust=gust, heading=heading)
        gamma = wrap180(moved.wind_direction - heading)
        yaw_hist = jnp.concatenate([gamma[None, :], state.yaw_hist[:-1]], axis=0)
        moved = moved.replace(yaw_hist=yaw_hist)
        power, speed = self._flow(params, moved)
        # sensors: noisy vane sample, low-pass filtered along the shortest arc
        sample = moved.wind_direction + (params.sensor_noise * params.wd_noise_std
                                         * z[2:2 + n])
        alpha = dt / (params.vane_tau + dt)
        vane = jnp.mod(state.vane + alpha * wrap180(sample - state.vane), 360.0)
        new = moved.replace(vane=vane, power=power, rotor_speed=speed)

        rated = self._rated_farm_power(params)
        power_frac = jnp.sum(power) / rated
        available = params.n_turbines * params.power_curve_scale * tb.power(
            params.model.turbine, free_stream_rotor_velocity(params.model, new.wind_speed), 0.0,
            params.model.air_density)
        travel = jnp.mean(jnp.abs(turn)) / max_turn
        load = jnp.mean((gamma / params.max_yaw_offset) ** 2)
        cost = jnp.mean((jnp.abs(gamma) > params.misalignment_limit).astype(jnp.float32))
        reward = (power_frac - params.available_power_baseline * available / rated
                  - params.travel_weight * travel - params.load_weight * load
                  - params.violation_weight * cost)
        truncated = new.time >= params.max_steps
        info = {"cost": cost, "farm_power_mw": jnp.sum(power) / 1e6, "power_fraction": power_frac,
                "available_power_mw": available / 1e6,
                "yaw_travel_deg": jnp.sum(jnp.abs(turn)), "wind_direction": new.wind_direction,
                "wind_speed": new.wind_speed}
        obs, new = self._observe(z[2 + n:], params, new)
        return obs, new, reward, jnp.asarray(False), truncated, info

    # ---- spaces and labels ---------------------------------------------------------------------
    @staticmethod
    def _obs_bounds(n: int) -> tuple[np.ndarray, np.ndarray]:
        low = [*np.tile([0.0, 0.0, -180.0, 0.0], n).tolist(), 0.0, -1.0, -1.0, 0.0, 0.0]
        high = [*np.tile([360.0, MAX_SPEED, 180.0, MAX_POWER_MW], n).tolist(),
                360.0, 1.0, 1.0, MAX_SPEED, MAX_TI]
        return np.asarray(low, np.float32), np.asarray(high, np.float32)

    def observation_space(self, params):
        low, high = self._obs_bounds(params.n_turbines)
        low, high = residual.observation_bounds(params, low, high)
        return spaces.Box(low=low, high=high)

    def action_space(self, params):
        lim = float(params.max_yaw_offset)
        return spaces.Box(low=-lim, high=lim, shape=(params.n_turbines,))

    def observation_labels(self, params):
        labels = []
        for j in range(params.n_turbines):
            a = f"turbine_{j}"
            labels += [Label(a, "wind_direction", "deg"), Label(a, "wind_speed", "m/s"),
                       Label(a, "yaw_offset", "deg"), Label(a, "power", "MW")]
        labels += [Label("site", "wind_direction", "deg"), Label("site", "wind_direction_sin", "1"),
                   Label("site", "wind_direction_cos", "1"), Label("site", "wind_speed", "m/s"),
                   Label("site", "turbulence_intensity", "1")]
        return labels + residual.observation_labels(params)

    def action_labels(self, params):
        name = "yaw_offset_correction" if params.action_mode == "residual" else "yaw_offset_setpoint"
        return [Label(f"turbine_{j}", name, "deg") for j in range(params.n_turbines)]

    # ---- extras --------------------------------------------------------------------------------
    def baselines(self) -> dict[str, Baseline]:
        from twingym.envs.wind_farm.baselines import make_baselines
        return make_baselines()

    def scenarios(self) -> dict[str, dict[str, Any]]:
        from twingym.envs.wind_farm.scenarios import SCENARIOS
        return {k: dict(v) for k, v in SCENARIOS.items()}

    def schematic(self, params) -> dict[str, Any]:
        """Layout (m, x east / y north), rotor diameter (m) and rated power (MW) for a viewer."""
        return {"kind": "wind_farm", "x": np.asarray(params.layout_x, float).round(2).tolist(),
                "y": np.asarray(params.layout_y, float).round(2).tolist(),
                "rotor_diameter": float(params.model.turbine.rotor_diameter),
                "rated_power_mw": float(params.model.turbine.rated_power) / 1e6}

    def render(self, state, params) -> np.ndarray:
        from twingym.envs.wind_farm.render import render_state
        return render_state(state, params)
