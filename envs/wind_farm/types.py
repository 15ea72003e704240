"""State and params of the wind farm twin (immutable pytrees; see env.py for the dynamics)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from twingym.envs.wind_farm.farm import (
    FarmModel,
)


@struct.dataclass
class WindFarmParams:
    """Everything physical about the farm, the wind, the sensors, the actuators and the reward.

    Shape-defining options (layout, turbine type) are set through ``make_params``.
    """

    layout_x: jax.Array                  # (n,) m, east
    layout_y: jax.Array                  # (n,) m, north
    model: FarmModel                     # turbine curves and wake constants
    dt: float = 30.0                     # s per step
    # wind direction
    wd_low: float = 260.0                # deg, range of the episode's mean direction
    wd_high: float = 280.0
    wd_drift_rate: float = 0.0           # deg/s, deterministic drift added to every episode
    wd_drift_std: float = 10.0 / 3600.0  # deg/s, std of the per-episode drift rate
    wd_fluct_std: float = 3.0            # deg, stationary std of the OU fluctuation
    wd_fluct_tau: float = 300.0          # s
    # wind speed
    ws_low: float = 5.0                  # m/s, range of the episode's mean speed
    ws_high: float = 13.0
    ws_fluct_std: float = 0.6            # m/s
    ws_fluct_tau: float = 120.0          # s
    gust_rate: float = 2.0 / 3600.0      # gusts per second
    gust_amplitude: float = 2.5          # m/s, mean gust bump
    gust_tau: float = 60.0               # s, gust decay time
    ti_low: float = 0.04                 # turbulence intensity range (per episode)
    ti_high: float = 0.12
    # sensors (noise levels are multiplied by sensor_noise)
    sensor_noise: float = 1.0
    wd_noise_std: float = 3.0            # deg, vane noise per sample
    vane_tau: float = 60.0               # s, vane low-pass filter
    ws_noise_std: float = 0.3            # m/s, anemometer noise
    ti_noise_std: float = 0.005          # met-mast TI noise
    power_noise_std: float = 0.01        # fraction of rated power
    # actuators and wakes
    yaw_rate: float = 0.3                # deg/s
    max_yaw_offset: float = struct.field(pytree_node=False, default=25.0)  # deg, action bound
    misalignment_limit: float = 30.0     # deg, cost above this
    wake_delay: float = 1.0              # scale of the advection delay (0 = instantaneous)
    power_curve_scale: float = 1.0       # true power / tabulated power (model mismatch)
    # action semantics (residual.py)
    action_mode: str = struct.field(pytree_node=False, default="absolute")  # absolute | residual (on the table)
    residual_table: jax.Array | None = None  # (n_wd, n_ws, n) deg, the table in residual mode
    # reward
    travel_weight: float = 0.005
    violation_weight: float = 0.05       # per unit of cost (fraction of turbines past the limit)
    available_power_baseline: float = 1.0  # 1: subtract the unwaked farm's power (see docstring)
    load_weight: float = 0.002
    max_steps: int = struct.field(pytree_node=False, default=120)

    @property
    def n_turbines(self) -> int:
        return int(self.layout_x.shape[0])


@struct.dataclass
class WindFarmState:
    """State of one farm. Angles in deg, speeds in m/s, shapes noted per field."""

    time: jax.Array          # () int32, steps since the episode began
    wd_mean: jax.Array       # () episode mean direction (drifts)
    wd_drift: jax.Array      # () deg/s drift rate of this episode
    wd_fluct: jax.Array      # () OU fluctuation
    ws_mean: jax.Array       # ()
    ws_fluct: jax.Array      # ()
    gust: jax.Array          # () current gust bump
    ti: jax.Array            # () ambient turbulence intensity
    heading: jax.Array       # (n,) nacelle headings
    vane: jax.Array          # (n,) filtered vane readings
    yaw_hist: jax.Array      # (YAW_HISTORY, n) true misalignment now (row 0) and in past steps
    power: jax.Array         # (n,) W, true power at the last step
    rotor_speed: jax.Array   # (n,) m/s, rotor-average wind speed at the last step
    site_measured: jax.Array  # (2,) site direction (deg) and met-mast speed (m/s) last observed

    @property
    def wind_direction(self) -> jax.Array:
        return jnp.mod(self.wd_mean + self.wd_fluct, 360.0)

    @property
    def wind_speed(self) -> jax.Array:
        return jnp.maximum(self.ws_mean + self.ws_fluct + self.gust, 0.5)
