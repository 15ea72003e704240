"""Action modes of WindFarm-v0: absolute yaw offsets, or a correction on top of the wake-steering table.

``action_mode = "absolute"`` (default): the action is each turbine's yaw-offset setpoint (deg,
``[-max_yaw_offset, max_yaw_offset]``); zero faces the measured wind (the ``greedy`` baseline).

``action_mode = "residual"``: the twin runs the ``wake_steering`` lookup table itself, at the
site wind direction and met-mast speed of the observation it last emitted, and the action is a
correction (deg, same box) added to the table's offsets; the sum is clipped to the same
``[-max_yaw_offset, max_yaw_offset]``. Zero action reproduces the table controller exactly; any
absolute offset the baselines apply (0 for greedy, the table itself) stays reachable, because a
table offset never exceeds ``max_yaw_offset``. The residual twin's observation ends with the
table's offsets at that observation (``n`` more components, deg): the correction a policy
learns depends on what the table is doing, which an observation of the wind alone hides behind
the table's sharp changes near the row directions.

The table lives in the params (``residual_table``) so a jitted step, a bundle, the validation
suite and the live twin all see an ordinary twin; :func:`with_table` (re)computes it whenever a
field it depends on changes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.core import Label
from twingym.envs.wind_farm.baselines import table_offsets, wake_steering_table

ACTION_MODES = ("absolute", "residual")

#: params fields the wake-steering table depends on (its cache key covers them; see baselines.py)
TABLE_FIELDS = frozenset({"layout_x", "layout_y", "model", "ti_low", "ti_high", "max_yaw_offset",
                          "load_weight", "action_mode"})


def with_table(params: Any, changed: set[str] | None = None) -> Any:
    """``params`` with ``residual_table`` set for its action mode.

    Residual mode: the wake-steering table of these params ``(n_wd, n_ws, n)`` deg, recomputed
    only when ``changed`` (the field names just overridden; ``None``: always) touches
    :data:`TABLE_FIELDS`. Absolute mode: no table (``None``).
    """
    mode = params.action_mode
    if mode not in ACTION_MODES:
        raise ValueError(f"unknown action_mode {mode!r}; use one of {', '.join(ACTION_MODES)}")
    if mode == "absolute":
        return params if params.residual_table is None else params.replace(residual_table=None)
    if params.residual_table is not None and changed is not None and not changed & TABLE_FIELDS:
        return params
    return params.replace(residual_table=jnp.asarray(wake_steering_table(params), jnp.float32))


def applied_offsets(params: Any, site: jax.Array, action: jax.Array) -> jax.Array:
    """Yaw-offset setpoints (deg, ``(n,)``) the actuators follow for ``action`` (deg, ``(n,)``)."""
    lim = params.max_yaw_offset
    action = jnp.clip(jnp.reshape(action, (params.n_turbines,)).astype(jnp.float32), -lim, lim)
    if params.action_mode == "absolute":
        return action
    return jnp.clip(table_offsets(params.residual_table, site[0], site[1], lim) + action, -lim, lim)


def observation(params: Any, site: jax.Array, obs: jax.Array) -> jax.Array:
    """``obs`` (float32), followed in residual mode by the table's offsets at ``site`` (deg, ``(n,)``)."""
    if params.action_mode == "absolute":
        return obs
    lim = params.max_yaw_offset
    return jnp.concatenate([obs, table_offsets(params.residual_table, site[0], site[1], lim)])


def observation_bounds(params: Any, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observation bounds with the residual mode's table block ``[-max_yaw_offset, max_yaw_offset]``."""
    if params.action_mode == "absolute":
        return low, high
    lim = np.full(params.n_turbines, params.max_yaw_offset, np.float32)
    return np.concatenate([low, -lim]), np.concatenate([high, lim])


def observation_labels(params: Any) -> list[Label]:
    """Labels of the residual mode's table block (none in absolute mode)."""
    if params.action_mode == "absolute":
        return []
    return [Label(f"turbine_{j}", "table_yaw_offset", "deg") for j in range(params.n_turbines)]
