"""Action modes of AssemblyCell-v0: absolute speed and maintenance, or overrides of the bottleneck rule.

``action_mode = "absolute"`` (default): the action is each station's speed level and maintain flag,
MultiDiscrete ``[4, 2] * M`` (see :mod:`twingym.envs.assembly_cell.observation`).

``action_mode = "residual"``: the twin runs the ``bottleneck_aware`` rule itself on the observation it
last emitted, and the action overrides it per station, MultiDiscrete ``[5, 3] * M`` flattened as
``[speed_0, maintain_0, speed_1, ...]``:

* speed choice 0: the rule's speed level; 1..4: speed level 0..3 (off, eco, nominal, boost);
* maintain choice 0: the rule's maintain flag; 1: do not maintain; 2: maintain.

Zero action is the rule bit for bit, and every absolute action stays reachable (:func:`to_override`),
so each baseline keeps its meaning in the residual twin: its absolute action is translated to the
override that applies it, and it follows exactly its absolute trajectory. The rule is stateless (it
reads only the observation), so the twin's state carries the rule's action at the last observation
(``rule_action``, (2M,) int32; zeros in absolute mode). The residual twin's observation ends with that
action (2M more components: ``rule_speed_level`` in {0..3} and ``rule_maintain`` in {0, 1} per
station): what to override depends on what the rule is about to do.

The rule reads the twin's own observation: where validation corrupts observations on the policy side
(sensor dropout), the policy and the baselines see the corrupted values, the embedded rule the clean ones.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.assembly_cell.baselines import bottleneck_aware_action
from twingym.envs.assembly_cell.dynamics import NUM_SPEEDS
from twingym.envs.core import Baseline, Label

ACTION_MODES = ("absolute", "residual")
AS_RULE = 0          # override choice: keep the rule's speed or maintain flag
NO_MAINTAIN, MAINTAIN = 1, 2


def check_mode(params: Any) -> Any:
    """``params``, or ``ValueError`` naming the known modes when ``action_mode`` is not one of them."""
    if params.action_mode not in ACTION_MODES:
        raise ValueError(f"unknown action_mode {params.action_mode!r}; use one of {', '.join(ACTION_MODES)}")
    return params


def residual(params: Any) -> bool:
    return params.action_mode == "residual"


def rule_action(params: Any, obs: jax.Array) -> jax.Array:
    """The rule's absolute action (2M,) int32 at ``obs`` in residual mode; zeros in absolute mode."""
    if not residual(params):
        return jnp.zeros((2 * params.num_stations,), jnp.int32)
    return bottleneck_aware_action(obs, params).astype(jnp.int32)


def applied_action(params: Any, rule: jax.Array, action: jax.Array) -> jax.Array:
    """The absolute action (2M,) int32 the cell applies for ``action`` given the rule's ``rule`` (2M,).

    Absolute mode: ``action`` itself. Residual mode: per station, speed choice 0 keeps the rule's level
    and k in 1..4 sets level k - 1; maintain choice 0 keeps the rule's flag, 1 clears it, 2 sets it.
    Choices outside the space are clipped into it.
    """
    if not residual(params):
        return action
    m = params.num_stations
    a = jnp.reshape(jnp.asarray(action), (m, 2)).astype(jnp.int32)
    r = jnp.reshape(rule, (m, 2)).astype(jnp.int32)
    speed_choice = jnp.clip(a[:, 0], 0, NUM_SPEEDS)
    maintain_choice = jnp.clip(a[:, 1], 0, MAINTAIN)
    speed = jnp.where(speed_choice == AS_RULE, r[:, 0], speed_choice - 1)
    maintain = jnp.where(maintain_choice == AS_RULE, r[:, 1], (maintain_choice == MAINTAIN).astype(jnp.int32))
    return jnp.stack([speed, maintain], axis=1).reshape(-1)


def to_override(action: jax.Array) -> jax.Array:
    """The residual action that applies the absolute ``action`` (2M,) whatever the rule does."""
    a = jnp.reshape(jnp.asarray(action), (-1, 2)).astype(jnp.int32)
    speed = jnp.clip(a[:, 0], 0, NUM_SPEEDS - 1) + 1
    maintain = jnp.where(a[:, 1] > 0, MAINTAIN, NO_MAINTAIN)
    return jnp.stack([speed, maintain], axis=1).reshape(-1).astype(jnp.int32)


def nvec(params: Any) -> tuple[int, ...]:
    """Per-component category counts of the action space in the params' mode."""
    per_station = (NUM_SPEEDS + 1, 3) if residual(params) else (NUM_SPEEDS, 2)
    return per_station * params.num_stations


def observation(params: Any, obs: jax.Array, rule: jax.Array) -> jax.Array:
    """``obs``, followed in residual mode by the rule's action ``rule`` (2M,) as float32."""
    if not residual(params):
        return obs
    return jnp.concatenate([obs, rule.astype(jnp.float32)])


def observation_bounds(params: Any, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observation bounds with the residual mode's rule block (speed level [0, 3], maintain [0, 1])."""
    if not residual(params):
        return low, high
    m = params.num_stations
    rule_hi = np.tile([NUM_SPEEDS - 1, 1], m).astype(np.float32)
    return np.concatenate([low, np.zeros(2 * m, np.float32)]), np.concatenate([high, rule_hi])


def observation_labels(params: Any) -> list[Label]:
    """Labels of the residual mode's rule block (none in absolute mode)."""
    if not residual(params):
        return []
    return [lab for i in range(params.num_stations) for lab in (Label(f"station_{i}", "rule_speed_level", "1"),
                                                                 Label(f"station_{i}", "rule_maintain", "1"))]


def action_labels(params: Any) -> list[Label]:
    """Labels of the action components in the params' mode."""
    names = ("speed_override", "maintain_override") if residual(params) else ("speed_level", "maintain")
    return [Label(f"station_{i}", name, "1") for i in range(params.num_stations) for name in names]


def in_both_modes(baseline: Baseline) -> Baseline:
    """``baseline`` acting in either mode: in residual mode its absolute action is translated by
    :func:`to_override`, so it follows the same trajectory as in the absolute twin."""
    act = baseline.act

    def act_in_mode(carry, obs, params):
        action, carry = act(carry, obs, params)
        return (to_override(action) if residual(params) else action), carry

    return Baseline(baseline.name, baseline.init, act_in_mode, baseline.jittable, baseline.description)
