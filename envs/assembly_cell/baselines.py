"""Classical controllers of the assembly cell (pure, jittable, one copy; callers vmap).

* ``run_to_failure``: every station at nominal speed, never maintained (the reference baseline).
* ``periodic_maintenance``: nominal speed; each station is maintained every ``params.pm_period``
  cycles of uptime (counters in the carry, reset by an observed maintenance or repair; staggered start).
* ``wear_threshold``: nominal speed; a station is maintained when its wear sensor reads above
  ``params.pm_wear_threshold``.
* ``bottleneck_aware``: wear-threshold maintenance plus a speed rule: stations that would be
  blocked (full downstream buffer) or starved (empty upstream buffer) idle at eco; with a large
  backlog the bottleneck (lowest nominal processing probability) and any station feeding an
  emptier buffer boost; with enough finished stock and a high price the line runs at eco.

The period and the threshold are twin params, so a grid search can tune them
(:data:`TUNING_GRID`, ``twingym evaluate --tune-baselines``); the tuned values live in
``tuned_baselines.json`` beside this module and are the defaults of :func:`default_cell_params`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from twingym.envs.assembly_cell import observation as ob
from twingym.envs.assembly_cell.dynamics import BOOST, ECO, NOMINAL
from twingym.envs.assembly_cell.types import AssemblyCellParams
from twingym.envs.core import Baseline

BACKLOG_HIGH = 4.0           # [parts] boost the bottleneck above this backlog
STOCK_HIGH = 6.0             # [parts] run at eco above this finished stock...
PRICE_HIGH = 0.3             # [EUR/kWh] ...or above this price when the backlog is small

#: the grid search of ``twingym evaluate --tune-baselines``: baseline -> (params field, values).
#: Each grid holds the untuned default (80 cycles, 0.5 wear units) so tuning never loses to it.
TUNING_GRID: dict[str, tuple[str, tuple[float, ...]]] = {
    "periodic_maintenance": ("pm_period", (20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 150, 200, 250, 300)),
    "wear_threshold": ("pm_wear_threshold", (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.425, 0.45, 0.475, 0.5,
                                             0.525, 0.55, 0.575, 0.6, 0.7, 0.8, 0.9, 1.0)),
}


def _flat(speed: jax.Array, maintain: jax.Array) -> jax.Array:
    """(M,) speed and (M,) maintain -> flat action (2M,) int32."""
    return jnp.stack([speed.astype(jnp.int32), maintain.astype(jnp.int32)], axis=1).reshape(-1)


def _station_field(obs: jax.Array, m: int, field: str) -> jax.Array:
    return jnp.stack([obs[ob.station_index(i, field)] for i in range(m)])


def _no_carry(params: AssemblyCellParams) -> tuple:
    return ()


def _run_to_failure(carry, obs, params: AssemblyCellParams):
    m = params.num_stations
    return _flat(jnp.full((m,), NOMINAL), jnp.zeros((m,), bool)), carry


def _periodic_init(params: AssemblyCellParams) -> jax.Array:
    m = params.num_stations
    return (jnp.arange(m) * params.pm_period // m).astype(jnp.int32)


def _periodic(carry, obs, params: AssemblyCellParams):
    m = params.num_stations
    up = _station_field(obs, m, "is_up") > 0.5
    down = ~up
    due = up & (carry >= params.pm_period)
    counters = jnp.where(down | due, 0, carry + 1).astype(jnp.int32)
    return _flat(jnp.full((m,), NOMINAL), due), counters


def _threshold_maintain(obs: jax.Array, params: AssemblyCellParams) -> jax.Array:
    m = params.num_stations
    up = _station_field(obs, m, "is_up") > 0.5
    return up & (_station_field(obs, m, "wear_sensor") > params.pm_wear_threshold)


def _wear_threshold(carry, obs, params: AssemblyCellParams):
    m = params.num_stations
    return _flat(jnp.full((m,), NOMINAL), _threshold_maintain(obs, params)), carry


def bottleneck_aware_action(obs: jax.Array, params: AssemblyCellParams, *, stock_high: float = STOCK_HIGH,
                            backlog_high: float = BACKLOG_HIGH) -> jax.Array:
    """The ``bottleneck_aware`` rule's absolute action (2M,) int32 at ``obs`` (the twin's observation;
    components after the absolute twin's are not read). Stateless: the rule needs no carry.
    ``stock_high`` and ``backlog_high`` [parts] are its eco and boost triggers (defaults: the rule's)."""
    m = params.num_stations
    buffers = jnp.stack([obs[ob.buffer_index(m, i)] for i in range(m - 1)])
    cap = params.buffer_capacity.astype(jnp.float32)
    backlog = obs[ob.cell_index(m, "backlog")]
    stock = obs[ob.cell_index(m, "finished_stock")]
    price = obs[ob.cell_index(m, "price")]
    upstream = jnp.concatenate([jnp.ones((1,)), buffers])            # station i reads buffer i-1
    downstream_fill = jnp.concatenate([buffers / cap, jnp.zeros((1,))])  # station i feeds buffer i
    starved = upstream <= 0.0
    blocked = downstream_fill >= 1.0
    bottleneck = jnp.arange(m) == jnp.argmin(params.proc_prob[:, NOMINAL])
    rush = backlog > backlog_high
    relax = (stock > stock_high) | ((price > PRICE_HIGH) & (backlog <= 1.0) & (stock > 1.0))
    speed = jnp.full((m,), NOMINAL)
    speed = jnp.where(relax, ECO, speed)
    speed = jnp.where(rush & (bottleneck | (downstream_fill < 0.5)), BOOST, speed)
    speed = jnp.where(starved | blocked, ECO, speed)
    return _flat(speed, _threshold_maintain(obs, params))


def _bottleneck_aware(carry, obs, params: AssemblyCellParams):
    return bottleneck_aware_action(obs, params), carry


def make_baselines() -> dict[str, Baseline]:
    return {
        "run_to_failure": Baseline("run_to_failure", _no_carry, _run_to_failure,
                                   description="nominal speed, never maintained"),
        "periodic_maintenance": Baseline(
            "periodic_maintenance", _periodic_init, _periodic,
            description="nominal speed, maintenance every pm_period cycles of uptime"),
        "wear_threshold": Baseline("wear_threshold", _no_carry, _wear_threshold,
                                   description="nominal speed, maintain when wear sensor > pm_wear_threshold"),
        "bottleneck_aware": Baseline(
            "bottleneck_aware", _no_carry, _bottleneck_aware,
            description="wear-threshold maintenance, speed by bottleneck, buffers, backlog and price"),
    }
