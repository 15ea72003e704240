"""State and params of the power grid twin (immutable pytrees; see env.py for the dynamics)."""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class PowerGridParams:
    """Params of PowerGrid-v0. Sizes: n buses, L branches (lines then trafos), G generators
    (``net.gen``), R renewables, B batteries. Units: MW, MWh, pu (on ``sn_mva``), $.
    """

    # ---- network (pu on sn_mva) -------------------------------------------------------------
    br_f: jax.Array            # (L,) int32 from bus
    br_t: jax.Array            # (L,) int32 to bus
    br_r: jax.Array            # (L,) pu
    br_x: jax.Array            # (L,) pu
    br_g: jax.Array            # (L,) pu
    br_b: jax.Array            # (L,) pu
    br_g_asym: jax.Array       # (L,) pu
    br_b_asym: jax.Array       # (L,) pu
    br_tap: jax.Array          # (L,)
    br_shift: jax.Array        # (L,) rad
    br_status0: jax.Array      # (L,) 1.0 in service in the case
    rating_pu: jax.Array       # (L,) apparent-power rating at 1 pu voltage, pu
    shunt_g: jax.Array         # (n,) pu
    shunt_b: jax.Array         # (n,) pu
    vm_set: jax.Array          # (n,) pu
    va_slack: jax.Array        # () rad
    is_slack: jax.Array        # (n,) bool
    is_pv: jax.Array           # (n,) bool
    x_ref: jax.Array           # (2n,) solution of the case's base operating point [va; vm]
    jinv: jax.Array            # (2n, 2n) inverse Jacobian at x_ref (chord iterations)
    # ---- loads ----------------------------------------------------------------------------
    load_p: jax.Array          # (n,) MW peak base load per bus
    load_q: jax.Array          # (n,) Mvar
    # ---- generators -----------------------------------------------------------------------
    gen_bus: jax.Array         # (G,) int32
    gen_pmin: jax.Array        # (G,) MW
    gen_pmax: jax.Array        # (G,) MW
    gen_ramp: jax.Array        # (G,) MW per step
    gen_cost: jax.Array        # (G, 2) $/MWh and $/MW^2h
    slack_pmin: jax.Array      # () MW
    slack_pmax: jax.Array      # () MW
    slack_cost: jax.Array      # (2,)
    # ---- renewables and batteries ----------------------------------------------------------
    ren_bus: jax.Array         # (R,) int32
    ren_cap: jax.Array         # (R,) MW
    ren_is_wind: jax.Array     # (R,) bool
    bat_bus: jax.Array         # (B,) int32
    bat_p_max: jax.Array       # (B,) MW
    bat_e_max: jax.Array       # (B,) MWh
    bat_eff: jax.Array         # (B,) one-way efficiency
    # ---- stochastic inputs and scenario knobs -------------------------------------------------
    load_noise_std: jax.Array  # () relative
    obs_noise_std: jax.Array   # () relative sensor noise
    obs_noise_scale: jax.Array  # () multiplier (validation: 3.0)
    load_scale: jax.Array      # () multiplier on all loads (load_surge)
    renewable_scale: jax.Array  # () multiplier on renewable availability (renewable_drop)
    impedance_scale: jax.Array  # () multiplier on branch r and x (line_impedance_shift)
    n1_outage: jax.Array       # () 1.0 keeps branch ``n1_line`` out for the whole episode
    n1_line: jax.Array         # () int32 branch taken out by the n_minus_1 scenario
    wind_cf_std: jax.Array     # () stationary std of the wind capacity factor (AR(1) latent scale)
    rating_scale: jax.Array    # () multiplier on every branch rating (1.0: the case's ratings)
    overload_price: jax.Array  # () $ per MVAh above the ratings of branches in service (0: unpriced)
    foresight: jax.Array       # () 1.0 publishes the realised next step instead of its forecast (oracle)
    # ---- protection ---------------------------------------------------------------------------
    trip_hard: jax.Array       # () loading (fraction) that trips at once
    # ---- economics (reward) ---------------------------------------------------------------------
    curtail_cost: jax.Array    # () $/MWh curtailed
    battery_wear: jax.Array    # () $/MWh throughput
    voll: jax.Array            # () $/MWh value of lost load
    blackout_hours: jax.Array  # () h of total load counted as unserved on a blackout
    reward_scale: jax.Array    # () $ per step that maps to reward 1 (normaliser)
    stored_energy_price: jax.Array  # () $/MWh value of energy held in batteries (SoC changes)
    reward_reference: jax.Array  # () 1.0 subtracts the exogenous reference cost from the reward
    # ---- observation bounds (MW) ----------------------------------------------------------------
    p_bound: jax.Array         # () bound on |bus injection| and |slack p|
    bus_xy: jax.Array          # (n, 2) drawing coordinates (case geodata or a spring layout)
    # ---- static -------------------------------------------------------------------------------------
    sn_mva: float = struct.field(pytree_node=False, default=100.0)
    dt_h: float = struct.field(pytree_node=False, default=0.25)
    max_steps: int = struct.field(pytree_node=False, default=96)
    overload_steps: int = struct.field(pytree_node=False, default=3)
    cooldown_steps: int = struct.field(pytree_node=False, default=12)
    fixed_chord: int = struct.field(pytree_node=False, default=3)  # chord steps every copy takes
    max_chord: int = struct.field(pytree_node=False, default=6)
    max_newton: int = struct.field(pytree_node=False, default=8)
    tol: float = struct.field(pytree_node=False, default=1e-4)
    case: str = struct.field(pytree_node=False, default="case14")
    #: "schedule": generator actions are deviations from the market schedule (merit order of the
    #: forecast); "ramp": changes of the previous set point
    gen_mode: str = struct.field(pytree_node=False, default="schedule")
    # space bounds, fixed when the params are built (spaces must not depend on traced values)
    obs_low: tuple = struct.field(pytree_node=False, default=())
    obs_high: tuple = struct.field(pytree_node=False, default=())
    act_low: tuple = struct.field(pytree_node=False, default=())
    act_high: tuple = struct.field(pytree_node=False, default=())
    gen_span: tuple = struct.field(pytree_node=False, default=())  # (G,) max_p - min_p, MW


@struct.dataclass
class PowerGridState:
    """State of one grid copy. Shapes as in :class:`PowerGridParams`."""

    time: jax.Array        # () int32 steps since midnight of the episode's first day
    p_gen: jax.Array       # (G,) MW generator set points
    soc: jax.Array         # (B,) fraction
    z_ren: jax.Array       # (R,) AR(1) latent of each renewable unit
    e_load: jax.Array      # (n,) AR(1) latent of each bus's load noise
    z_ren_next: jax.Array  # (R,) the renewable latents of the next step (drawn one step ahead)
    e_load_next: jax.Array  # (n,) the load latents of the next step (drawn one step ahead)
    level: jax.Array       # () episode load level
    status: jax.Array      # (L,) float 1 in service, 0 out
    over_count: jax.Array  # (L,) int32 consecutive overloaded steps
    cooldown: jax.Array    # (L,) int32 steps until a tripped branch reconnects
    x: jax.Array           # (2n,) last power-flow solution [va rad; vm pu] (warm start)
    loading: jax.Array     # (L,) last loading, fraction of rating
    p_slack: jax.Array     # () MW
    p_bus: jax.Array       # (n,) MW net injections of the last step
    ren_out: jax.Array     # (R,) MW renewable output after curtailment
    schedule: jax.Array    # (G,) MW market schedule of the generators for the next step
