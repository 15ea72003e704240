"""State and params of the assembly cell twin (immutable pytrees; see env.py for the dynamics)."""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class AssemblyCellParams:
    """Parameters of the assembly cell (everything physical and economic).

    Per-station arrays have shape ``(M,)`` or ``(M, 4)`` (one column per speed level off/eco/nominal/
    boost); buffer arrays have shape ``(M-1,)``. Units in brackets.
    """

    # --- line ---------------------------------------------------------------------------------
    buffer_capacity: jax.Array        # (M-1,) int32 [parts], >= 1
    proc_prob: jax.Array              # (M, 4) [1] P(process a part in a cycle | up, level)
    power_kw: jax.Array               # (M, 4) [kW] power while processing at each level
    wear_rate: jax.Array              # (M, 4) [1/part] wear added per processed part
    hazard_base: jax.Array            # (M,) [1/part] failure probability per part at zero wear
    hazard_wear: jax.Array            # (M,) [1/part] added failure probability per part at wear 1
    price_tou: jax.Array              # (24,) [EUR/kWh] time-of-use price by hour of day
    idle_power_fraction: float = 0.4  # [1] power fraction when on but starved/blocked/no draw
    standby_kw: float = 0.3           # [kW] power when off, failed or in maintenance
    # --- wear, failures, maintenance ----------------------------------------------------------
    hazard_shape: float = 4.0         # [1] exponent of wear in the hazard
    hazard_scale: float = 1.0         # [1] multiplier of the hazard (scenario "failure_rate_shift")
    forced_breakdown_prob: float = 0.0  # [1/cycle] wear-independent breakdowns of up stations
    repair_min: int = 12              # [cycles] shortest repair
    repair_max: int = 36              # [cycles] longest repair
    repair_wear_after: float = 0.0    # [1] wear after a repair (0 = as good as new)
    maint_duration: int = 3           # [cycles] preventive maintenance downtime
    initial_wear_max: float = 0.9     # [1] initial wear ~ U(0, initial_wear_max)
    initial_buffer_fill: float = 0.5  # [1] initial buffer levels ~ U{0..floor(fill*N)}
    initial_backlog_max: int = 5      # [parts] initial backlog ~ U{0..max}
    sensor_noise_std: float = 0.03    # [1] std of the wear sensor noise
    # --- economics ----------------------------------------------------------------------------
    dt_hours: float = 5.0 / 60.0      # [h] length of one cycle
    price_spike_factor: float = 1.0   # [1] price multiplier inside the spike window
    price_spike_start: float = 0.0    # [h of day] spike window start
    price_spike_hours: float = 0.0    # [h] spike window length (0 = no spike)
    demand_rate: float = 0.6          # [parts/cycle] mean order arrivals
    demand_spike_factor: float = 1.0  # [1] demand multiplier inside the spike window
    demand_spike_start: float = 0.0   # [h of day]
    demand_spike_hours: float = 0.0   # [h]
    revenue_per_part: float = 8.0     # [EUR/part] paid when a part ships against an order
    maint_cost: float = 30.0          # [EUR] per preventive maintenance (fixed part)
    maint_cost_per_wear: float = 50.0  # [EUR per wear unit] wear-proportional part (worn components)
    repair_cost: float = 400.0        # [EUR] per failure
    wip_holding_cost: float = 0.01    # [EUR/(part cycle)] per part in the buffers
    fg_holding_cost: float = 0.05     # [EUR/(part cycle)] per part in finished-goods stock
    backlog_penalty: float = 0.4      # [EUR/(part cycle)] per open order
    reward_scale: float = 0.01        # [1/EUR] reward = profit * reward_scale
    # --- classical maintenance baselines (not the dynamics; tuned values: tuned_baselines.json) --
    pm_period: int = 80               # [cycles of uptime] periodic-maintenance interval, >= 1
    pm_wear_threshold: float = 0.5    # [wear units] wear-threshold maintenance trigger
    # --- action semantics (residual.py) ---------------------------------------------------------
    action_mode: str = struct.field(pytree_node=False, default="absolute")  # absolute | residual (overrides of bottleneck_aware)
    # --- observation bounds -------------------------------------------------------------------
    wear_obs_max: float = 2.0         # [1] wear sensor clip
    price_obs_max: float = 3.0        # [EUR/kWh] price clip
    stock_obs_max: float = 100.0      # [parts] backlog / finished-goods clip
    demand_obs_max: float = 4.0       # [parts/cycle] demand-rate clip
    # --- static -------------------------------------------------------------------------------
    num_stations: int = struct.field(pytree_node=False, default=5)
    max_steps: int = struct.field(pytree_node=False, default=288)


@struct.dataclass
class AssemblyCellState:
    """State of one cell. Shapes for M stations; integers are int32."""

    buffers: jax.Array      # (M-1,) int32 [parts] buffer levels, 0..N_i
    status: jax.Array       # (M,) int32 UP / FAILED / MAINTENANCE
    remaining: jax.Array    # (M,) int32 [cycles] left in repair or maintenance (0 when up)
    wear: jax.Array         # (M,) float32 [1] true wear (not observable)
    speed: jax.Array        # (M,) int32 speed level applied in the last step
    backlog: jax.Array      # () int32 [parts] open orders
    stock: jax.Array        # () int32 [parts] finished-goods stock
    parts_in: jax.Array     # () int32 [parts] released into the line this episode (incl. initial WIP)
    parts_out: jax.Array    # () int32 [parts] finished by the last station this episode
    start_step: jax.Array   # () int32 [cycles] cycle-of-day at which the episode started
    time: jax.Array         # () int32 [cycles] steps since the episode began
    rule_action: jax.Array  # (2M,) int32 the bottleneck rule's action at the last observation (residual
    #                         action mode; zeros in absolute mode)
