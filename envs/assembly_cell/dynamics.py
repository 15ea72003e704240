"""Assembly cell dynamics: a serial line of M stations with M-1 finite buffers, in discrete time.

Time-slot convention (Li & Meerkov, *Production Systems Engineering*, 2009, ch. 4, Bernoulli lines,
blocked-before-service):

* One step is one cycle (``dt_hours``, 5 min by default). The status of every station is determined at
  the beginning of the slot; buffer levels are determined at the end of the slot.
* Station ``i`` is *capable* in a slot when it is up (not failed, not in maintenance), switched on
  (speed level > 0) and its Bernoulli draw succeeds (probability ``proc_prob[i, speed]``).
* Station ``i > 0`` is *starved* when buffer ``i-1`` is empty at the beginning of the slot; station 0
  is never starved (raw material is always there).
* Station ``i < M-1`` is *blocked* when it is capable, buffer ``i`` is full at the beginning of the
  slot and station ``i+1`` does not take a part from buffer ``i`` during the slot; the last station
  is never blocked (finished parts leave the line).
* A capable station that is neither starved nor blocked moves one part from its upstream buffer to its
  downstream buffer during the slot. Stations hold no parts between slots: the work in process (WIP)
  is exactly the content of the buffers, and buffer capacity ``N_i`` counts the parts in buffer ``i``
  only (the book's convention; some texts add the part held by the machine, i.e. ``N_i + 1``).

Consequently ``parts_in - parts_out == sum(buffers)`` holds exactly at every step (integers), where
``parts_in`` counts parts released into the line (the initial WIP counts as released at reset).

On top of the Bernoulli line (which is the special case with no wear, failures or maintenance, all
stations at nominal speed: see :mod:`twingym.envs.assembly_cell.bernoulli`) each station has

* a speed level 0..3 = off / eco / nominal / boost that sets its processing probability
  ``proc_prob[i, level]``, its power draw ``power_kw[i, level]`` and its wear per part
  ``wear_rate[i, level]``;
* a wear state ``w >= 0`` (dimensionless, 1.0 = design life) that grows with every processed part;
* operation-dependent failures: after processing a part a station fails with probability
  ``hazard_scale * (hazard_base + hazard_wear * w ** hazard_shape)`` (clipped to [0, 1]); any station
  that is up also suffers wear-independent forced breakdowns with probability
  ``forced_breakdown_prob`` per cycle; a failed station is repaired in a uniformly random number of
  cycles in ``[repair_min, repair_max]``, costs ``repair_cost`` and comes back with wear
  ``repair_wear_after``;
* preventive maintenance: a maintain request on an up station takes it down for ``maint_duration``
  cycles (the request's cycle included), costs ``maint_cost + maint_cost_per_wear * wear`` and
  resets its wear to 0.

Economics (per step, in EUR): revenue per shipped part; energy at a time-of-use price; maintenance and
repair costs; WIP and finished-goods holding; a backlog penalty. Orders arrive at ``demand_rate`` parts
per cycle; finished parts fill open orders (backlog) first, the surplus goes to finished-goods stock.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from twingym.envs.assembly_cell.tuned import tuned_values
from twingym.envs.assembly_cell.types import AssemblyCellParams, AssemblyCellState

#: station status codes
UP, FAILED, MAINTENANCE = 0, 1, 2
#: speed levels
OFF, ECO, NOMINAL, BOOST = 0, 1, 2, 3
SPEED_NAMES = ("off", "eco", "nominal", "boost")
NUM_SPEEDS = 4



# ---------------------------------------------------------------------------------------------
# default parameters
# ---------------------------------------------------------------------------------------------
_NOMINAL_P = (0.90, 0.85, 0.88, 0.84, 0.90)
_SPEED_PROB_FACTOR = np.array([0.0, 0.7, 1.0, 1.15], dtype=np.float32)
_SPEED_POWER_KW = np.array([0.0, 2.5, 5.0, 9.0], dtype=np.float32)
_SPEED_WEAR = np.array([0.0, 0.5, 1.0, 2.2], dtype=np.float32) / 250.0
#: EUR/kWh by hour of day: cheap night, morning and evening peaks.
DEFAULT_TOU = np.array([0.10] * 6 + [0.18] * 2 + [0.28] * 4 + [0.22] * 4 + [0.45] * 4 + [0.28] * 2
                       + [0.14] * 2, dtype=np.float32)


def speed_table(p_nominal: np.ndarray) -> np.ndarray:
    """(M, 4) processing probabilities from nominal ones: off 0, eco 0.7 p, nominal p, boost 1.15 p
    (capped at 0.99)."""
    p = np.asarray(p_nominal, dtype=np.float32)[:, None] * _SPEED_PROB_FACTOR[None, :]
    p[:, NOMINAL] = np.asarray(p_nominal, dtype=np.float32)
    return np.minimum(p, np.where(np.arange(NUM_SPEEDS) == NOMINAL, 1.0, 0.99)).astype(np.float32)


def default_cell_params(num_stations: int = 5, max_steps: int = 288) -> AssemblyCellParams:
    """Default cell with ``num_stations`` stations (nominal probabilities cycle through a 5-pattern);
    the baselines' maintenance period and wear threshold come from ``tuned_baselines.json``."""
    m = int(num_stations)
    if m < 2:
        raise ValueError(f"an assembly cell needs at least 2 stations, got num_stations={m}")
    p_nom = np.array([_NOMINAL_P[i % len(_NOMINAL_P)] for i in range(m)], dtype=np.float32)
    return AssemblyCellParams(
        buffer_capacity=jnp.full((m - 1,), 6, dtype=jnp.int32),
        proc_prob=jnp.asarray(speed_table(p_nom)),
        power_kw=jnp.asarray(np.tile(_SPEED_POWER_KW, (m, 1))),
        wear_rate=jnp.asarray(np.tile(_SPEED_WEAR, (m, 1))),
        hazard_base=jnp.full((m,), 5e-4, dtype=jnp.float32),
        hazard_wear=jnp.full((m,), 0.05, dtype=jnp.float32),
        price_tou=jnp.asarray(DEFAULT_TOU),
        **tuned_values(),
        num_stations=m,
        max_steps=int(max_steps),
    )


# ---------------------------------------------------------------------------------------------
# pure pieces of the step
# ---------------------------------------------------------------------------------------------
def line_flow(capable: jax.Array, buffers: jax.Array, capacity: jax.Array) -> jax.Array:
    """Which stations process a part this slot (blocked-before-service).

    Args:
        capable: (M,) bool, station up, on and its Bernoulli draw succeeded.
        buffers: (M-1,) int32 buffer levels at the beginning of the slot.
        capacity: (M-1,) int32 buffer capacities.

    Returns:
        (M,) bool ``produce``: station ``i`` moves a part from buffer ``i-1`` to buffer ``i``.
        Resolved from the last station upstream, since blocking of ``i`` depends on ``i+1``.
    """
    m = capable.shape[0]
    not_starved = jnp.concatenate([jnp.ones((1,), bool), buffers > 0])
    has_room = buffers < capacity
    produce = [None] * m
    produce[m - 1] = capable[m - 1] & not_starved[m - 1]
    for i in range(m - 2, -1, -1):
        produce[i] = capable[i] & not_starved[i] & (has_room[i] | produce[i + 1])
    return jnp.stack(produce)


def hour_of_day(start_step: jax.Array, time: jax.Array, dt_hours: float) -> jax.Array:
    """Hour of day in [0, 24) of the cycle ``start_step + time``."""
    return jnp.mod((start_step + time).astype(jnp.float32) * dt_hours, 24.0)


def in_window(hour: jax.Array, start: float, length: float) -> jax.Array:
    """True when ``hour`` lies in the daily window ``[start, start + length)`` (wrapping at 24 h)."""
    return jnp.mod(hour - start, 24.0) < length


def price_at(hour: jax.Array, params: AssemblyCellParams) -> jax.Array:
    """Electricity price [EUR/kWh] at ``hour`` (time-of-use table with the optional spike)."""
    idx = jnp.clip(jnp.floor(hour).astype(jnp.int32), 0, 23)
    spike = in_window(hour, params.price_spike_start, params.price_spike_hours)
    return params.price_tou[idx] * jnp.where(spike, params.price_spike_factor, 1.0)


def demand_at(hour: jax.Array, params: AssemblyCellParams) -> jax.Array:
    """Mean order arrivals [parts/cycle] at ``hour``."""
    spike = in_window(hour, params.demand_spike_start, params.demand_spike_hours)
    return params.demand_rate * jnp.where(spike, params.demand_spike_factor, 1.0)


def decode_action(action: jax.Array, m: int) -> tuple[jax.Array, jax.Array]:
    """Flat action (2M,) [speed_0, maintain_0, speed_1, ...] -> speed (M,) int32 in 0..3, maintain (M,) bool."""
    a = jnp.reshape(jnp.asarray(action), (m, 2)).astype(jnp.int32)
    return jnp.clip(a[:, 0], 0, NUM_SPEEDS - 1), a[:, 1] > 0


class StepOutcome(struct.PyTreeNode):
    """Per-step quantities reported in ``info`` (all scalars unless noted)."""

    produce: jax.Array        # (M,) bool
    parts_in: jax.Array       # int32 [parts] released into the line this step
    parts_out: jax.Array      # int32 [parts] finished this step
    shipped: jax.Array        # int32 [parts]
    orders: jax.Array         # int32 [parts]
    failures: jax.Array       # int32 new failures
    maintenances: jax.Array   # int32 maintenance starts
    energy_kwh: jax.Array     # float32 [kWh]
    price: jax.Array          # float32 [EUR/kWh]
    profit: jax.Array         # float32 [EUR]
    backlog_growth: jax.Array  # float32 [parts] >= 0


def reset_draws(m: int) -> int:
    """Number of U(0, 1) draws :func:`initial_state` consumes for ``m`` stations."""
    return 2 * m + 1


def step_draws(m: int) -> int:
    """Number of U(0, 1) draws :func:`transition` consumes for ``m`` stations."""
    return 4 * m + 1


def standard_normal(u: jax.Array) -> jax.Array:
    """N(0, 1) samples from U(0, 1) draws by the inverse CDF (as ``jax.random.normal`` does); lets a
    twin take all of a step's randomness from one ``jax.random.uniform`` call."""
    x = jnp.clip(2.0 * u - 1.0, -1.0 + 1e-7, 1.0 - 1e-7)
    return jnp.sqrt(2.0) * jax.scipy.special.erfinv(x)


def initial_state(u: jax.Array, params: AssemblyCellParams) -> AssemblyCellState:
    """A fresh episode from ``u``, (reset_draws(M),) U(0, 1) draws: random wear, buffer levels,
    backlog and start time of day."""
    m = params.num_stations
    cap = params.buffer_capacity
    top = jnp.floor(params.initial_buffer_fill * cap.astype(jnp.float32)).astype(jnp.int32)
    buffers = jnp.minimum(jnp.floor(u[: m - 1] * (top + 1).astype(jnp.float32)).astype(jnp.int32), top)
    wear = (u[m - 1: 2 * m - 1] * params.initial_wear_max).astype(jnp.float32)
    steps_per_day = jnp.round(24.0 / params.dt_hours).astype(jnp.int32)
    start = jnp.minimum(jnp.floor(u[2 * m - 1] * steps_per_day).astype(jnp.int32), steps_per_day - 1)
    backlog = jnp.minimum(jnp.floor(u[2 * m] * (params.initial_backlog_max + 1)).astype(jnp.int32),
                          params.initial_backlog_max)
    return AssemblyCellState(
        buffers=buffers,
        status=jnp.zeros((m,), jnp.int32),
        remaining=jnp.zeros((m,), jnp.int32),
        wear=wear,
        speed=jnp.full((m,), NOMINAL, jnp.int32),
        backlog=backlog.astype(jnp.int32),
        stock=jnp.int32(0),
        parts_in=jnp.sum(buffers).astype(jnp.int32),
        parts_out=jnp.int32(0),
        start_step=start,
        time=jnp.int32(0),
        rule_action=jnp.zeros((2 * m,), jnp.int32),
    )


def transition(u: jax.Array, state: AssemblyCellState, action: jax.Array,
               params: AssemblyCellParams) -> tuple[AssemblyCellState, StepOutcome]:
    """Advance the cell one cycle under ``action`` (2M,) int, with ``u`` the cycle's randomness,
    (step_draws(M),) U(0, 1) draws; returns the new state and the outcome."""
    m = params.num_stations
    speed, maintain = decode_action(action, m)
    u_proc, u_fail, u_forced, u_repair, u_demand = (u[:m], u[m:2 * m], u[2 * m:3 * m],
                                                   u[3 * m:4 * m], u[4 * m])
    rows = jnp.arange(m)

    # 1) maintenance requests on up stations start now (wear reset, station down maint_duration cycles)
    start_maint = maintain & (state.status == UP)
    maint_eur = jnp.sum(start_maint * (params.maint_cost + params.maint_cost_per_wear * state.wear))
    status = jnp.where(start_maint, MAINTENANCE, state.status)
    remaining = jnp.where(start_maint, params.maint_duration, state.remaining)
    wear = jnp.where(start_maint, 0.0, state.wear)

    # 2) production in this slot (status fixed at the beginning of the slot)
    on = (status == UP) & (speed > OFF)
    capable = on & (u_proc < params.proc_prob[rows, speed])
    produce = line_flow(capable, state.buffers, params.buffer_capacity)
    prod_i = produce.astype(jnp.int32)
    buffers = state.buffers + prod_i[:-1] - prod_i[1:]

    # 3) wear and failures (operation-dependent, plus forced breakdowns of up stations)
    wear = wear + produce * params.wear_rate[rows, speed]
    hazard = jnp.clip(params.hazard_scale * (params.hazard_base + params.hazard_wear
                                             * wear ** params.hazard_shape), 0.0, 1.0)
    fails = (produce & (u_fail < hazard)) | ((status == UP) & (u_forced < params.forced_breakdown_prob))
    repair_len = params.repair_min + jnp.floor(
        u_repair * (params.repair_max - params.repair_min + 1)).astype(jnp.int32)
    repair_len = jnp.minimum(repair_len, params.repair_max)
    down_at_start = status != UP
    status = jnp.where(fails, FAILED, status)
    remaining = jnp.where(fails, repair_len, remaining)

    # 4) repairs and maintenance count down; a station down at the beginning of the slot (or starting
    #    maintenance now) has spent this cycle; one failing at the end of the slot starts next cycle.
    counting = down_at_start
    remaining = jnp.where(counting, remaining - 1, remaining)
    back = counting & (remaining <= 0)
    wear = jnp.where(back & (status == FAILED), params.repair_wear_after, wear)
    status = jnp.where(back, UP, status)
    remaining = jnp.maximum(remaining, 0)

    # 5) orders and shipping
    hour = hour_of_day(state.start_step, state.time, params.dt_hours)
    rate = demand_at(hour, params)
    orders = (jnp.floor(rate) + (u_demand < rate - jnp.floor(rate))).astype(jnp.int32)
    out = prod_i[m - 1]
    available = state.stock + out
    need = state.backlog + orders
    shipped = jnp.minimum(available, need)
    stock = available - shipped
    backlog = need - shipped

    # 6) energy and profit
    p_level = params.power_kw[rows, speed]
    power = jnp.where(on, jnp.where(produce, p_level, params.idle_power_fraction * p_level),
                      params.standby_kw)
    energy = jnp.sum(power) * params.dt_hours
    price = price_at(hour, params)
    n_fail = jnp.sum(fails).astype(jnp.int32)
    n_maint = jnp.sum(start_maint).astype(jnp.int32)
    wip = jnp.sum(buffers)
    profit = (params.revenue_per_part * shipped - energy * price - maint_eur
              - params.repair_cost * n_fail - params.wip_holding_cost * wip
              - params.fg_holding_cost * stock - params.backlog_penalty * backlog)

    new = AssemblyCellState(buffers=buffers, status=status, remaining=remaining, wear=wear.astype(jnp.float32),
                    speed=speed, backlog=backlog, stock=stock,
                    parts_in=state.parts_in + prod_i[0], parts_out=state.parts_out + out,
                    start_step=state.start_step, time=state.time + 1, rule_action=state.rule_action)
    outcome = StepOutcome(produce=produce, parts_in=prod_i[0], parts_out=out, shipped=shipped,
                          orders=orders, failures=n_fail, maintenances=n_maint,
                          energy_kwh=energy.astype(jnp.float32), price=price.astype(jnp.float32),
                          profit=profit.astype(jnp.float32),
                          backlog_growth=jnp.maximum(backlog - state.backlog, 0).astype(jnp.float32))
    return new, outcome
