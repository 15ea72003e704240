"""Observation and action layout of the assembly cell: building, bounds, labels and indices.

Observation (float32, shape ``(5M + (M-1) + 7,)``, 36 for the default M = 5), in this order:

=====================  =============  ==========  =========================================================
component              asset          unit        range
=====================  =============  ==========  =========================================================
is_up                  station_<i>    1           {0, 1}: up (may be off, starved or blocked)
is_failed              station_<i>    1           {0, 1}: failed, under repair
in_maintenance         station_<i>    1           {0, 1}: in preventive maintenance
wear_sensor            station_<i>    1           [0, wear_obs_max]: wear + N(0, sensor_noise_std), clipped
speed_actual           station_<i>    1           {0..3}: speed level applied in the last cycle
level                  buffer_<i>     parts       [0, N_i]: parts in buffer i (between stations i, i+1)
price                  cell           EUR/kWh     [0, price_obs_max]: electricity price this cycle
hour_sin, hour_cos     cell           1           [-1, 1]: time of day on the unit circle
episode_progress       cell           1           [0, 1]: steps / max_steps
backlog                cell           parts       [0, stock_obs_max]: open orders
finished_stock         cell           parts       [0, stock_obs_max]: finished-goods stock
demand_rate            cell           parts/cycle [0, demand_obs_max]: current mean order arrivals
=====================  =============  ==========  =========================================================

Station blocks come first (5 values each, station 0 to M-1), then the M-1 buffers, then the cell.

Action (int32, shape ``(2M,)``, MultiDiscrete ``nvec = [4, 2] * M``): ``[speed_0, maintain_0, speed_1,
maintain_1, ...]``; speed level 0 off, 1 eco, 2 nominal, 3 boost; maintain 1 starts preventive
maintenance of an up station (ignored when the station is failed or already in maintenance).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.assembly_cell.dynamics import FAILED, MAINTENANCE, UP, demand_at, hour_of_day, price_at
from twingym.envs.assembly_cell.types import AssemblyCellParams, AssemblyCellState
from twingym.envs.core import Label

STATION_FIELDS = (("is_up", "1"), ("is_failed", "1"), ("in_maintenance", "1"), ("wear_sensor", "1"),
                  ("speed_actual", "1"))
CELL_FIELDS = (("price", "EUR/kWh"), ("hour_sin", "1"), ("hour_cos", "1"), ("episode_progress", "1"),
               ("backlog", "parts"), ("finished_stock", "parts"), ("demand_rate", "parts/cycle"))
PER_STATION = len(STATION_FIELDS)


def obs_size(m: int) -> int:
    return PER_STATION * m + (m - 1) + len(CELL_FIELDS)


def station_index(i: int, field: str) -> int:
    """Index of ``field`` of station ``i`` in the flat observation."""
    return PER_STATION * i + [f for f, _ in STATION_FIELDS].index(field)


def buffer_index(m: int, i: int) -> int:
    return PER_STATION * m + i


def cell_index(m: int, field: str) -> int:
    return PER_STATION * m + (m - 1) + [f for f, _ in CELL_FIELDS].index(field)


def make_obs(z: jax.Array, state: AssemblyCellState, params: AssemblyCellParams) -> jax.Array:
    """Flat observation of ``state`` (see module docstring), clipped into the observation box;
    ``z`` (M,) are standard-normal draws for the wear sensor noise."""
    noise = params.sensor_noise_std * z
    wear_sensor = jnp.clip(state.wear + noise, 0.0, params.wear_obs_max)
    stations = jnp.stack([
        (state.status == UP).astype(jnp.float32),
        (state.status == FAILED).astype(jnp.float32),
        (state.status == MAINTENANCE).astype(jnp.float32),
        wear_sensor,
        state.speed.astype(jnp.float32),
    ], axis=1).reshape(-1)
    hour = hour_of_day(state.start_step, state.time, params.dt_hours)
    angle = 2.0 * jnp.pi * hour / 24.0
    cell = jnp.stack([
        jnp.clip(price_at(hour, params), 0.0, params.price_obs_max),
        jnp.sin(angle),
        jnp.cos(angle),
        jnp.clip(state.time.astype(jnp.float32) / params.max_steps, 0.0, 1.0),
        jnp.clip(state.backlog.astype(jnp.float32), 0.0, params.stock_obs_max),
        jnp.clip(state.stock.astype(jnp.float32), 0.0, params.stock_obs_max),
        jnp.clip(demand_at(hour, params), 0.0, params.demand_obs_max),
    ])
    obs = jnp.concatenate([stations, state.buffers.astype(jnp.float32), cell]).astype(jnp.float32)
    return jnp.nan_to_num(obs)


def obs_bounds(params: AssemblyCellParams) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float32 arrays of the observation box (host side, from concrete params)."""
    m = params.num_stations
    station_hi = [1.0, 1.0, 1.0, float(params.wear_obs_max), 3.0]
    cap = np.asarray(params.buffer_capacity, dtype=np.float32)
    stock = float(params.stock_obs_max)
    cell_lo = [0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0]
    cell_hi = [float(params.price_obs_max), 1.0, 1.0, 1.0, stock, stock, float(params.demand_obs_max)]
    low = np.concatenate([np.zeros(PER_STATION * m), np.zeros(m - 1), cell_lo]).astype(np.float32)
    high = np.concatenate([np.tile(station_hi, m), cap, cell_hi]).astype(np.float32)
    return low, high


def observation_labels(m: int) -> list[Label]:
    labels = [Label(f"station_{i}", name, unit) for i in range(m) for name, unit in STATION_FIELDS]
    labels += [Label(f"buffer_{i}", "level", "parts") for i in range(m - 1)]
    labels += [Label("cell", name, unit) for name, unit in CELL_FIELDS]
    return labels

