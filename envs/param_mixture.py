"""Per-copy twin parameters: a batch of twin copies where copy ``i`` runs its own scenario.

Domain randomisation over a twin's scenario suite: given parameter sets ``P_0 .. P_{k-1}`` (the
same twin, the same shapes), copy ``i`` of a batch of ``num_envs`` gets ``P_{i mod k}``. Only the
leaves that differ between the sets are stacked along a new leading axis (shape ``(num_envs,
...)``); the others stay shared, so a mixture costs nothing where the scenarios agree. The result
is a ``ParamMixture``: the params pytree and the matching ``in_axes`` pytree (``0`` for stacked
leaves, ``None`` for shared ones), ready for ``jax.vmap(env.step, in_axes=(0, 0, 0, axes))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class ParamMixture:
    """``params``: the twin's params pytree with per-copy leaves of shape ``(num_envs, ...)``;
    ``axes``: the same tree with ``0`` (per copy) or ``None`` (shared) at each leaf."""

    params: Any
    axes: Any
    num_envs: int


def _same(values: Sequence[Any]) -> bool:
    first = np.asarray(values[0])
    return all(np.asarray(v).shape == first.shape and np.array_equal(np.asarray(v), first)
               for v in values[1:])


def mix_params(param_sets: Sequence[Any], num_envs: int, names: Sequence[str] | None = None) -> ParamMixture:
    """Assign ``param_sets[i % len(param_sets)]`` to copy ``i`` of ``num_envs``.

    Raises ``ValueError`` (naming the set) when a set differs in structure or static fields (array
    shapes, episode length), which a batch of one compiled step cannot mix.
    """
    if not param_sets:
        raise ValueError("mix_params needs at least one parameter set")
    names = list(names or [f"set {i}" for i in range(len(param_sets))])
    leaves0, treedef = jax.tree.flatten(param_sets[0])
    flat = [leaves0]
    for name, p in zip(names[1:], param_sets[1:], strict=True):
        leaves, tdef = jax.tree.flatten(p)
        if tdef != treedef or any(np.shape(a) != np.shape(b) for a, b in zip(leaves, leaves0, strict=True)):
            raise ValueError(f"{name} changes the twin's static fields or array shapes; only parameters "
                             "that keep every shape can be mixed in one batch")
        flat.append(leaves)
    index = np.arange(num_envs) % len(param_sets)
    out_leaves, axes = [], []
    for j, leaf in enumerate(leaves0):
        values = [f[j] for f in flat]
        if _same(values):
            out_leaves.append(leaf)
            axes.append(None)
        else:
            stacked = jnp.stack([jnp.asarray(v) for v in values])
            out_leaves.append(stacked[index])
            axes.append(0)
    return ParamMixture(jax.tree.unflatten(treedef, out_leaves), jax.tree.unflatten(treedef, axes), num_envs)
