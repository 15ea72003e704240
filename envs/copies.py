"""Per-copy operations on batched pytrees: every leaf's leading axis ``N`` is the twin copy.

Used wherever a batch of twin copies is advanced in one program: the vector env's auto-reset,
JAX PPO's paired baseline copies, the validation engine's controller carries.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def select(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per copy, ``new`` where ``mask`` (shape ``(N,)``) else ``old``, for every leaf."""
    return jax.tree.map(lambda n, o: jnp.where(jnp.reshape(mask, (-1,) + (1,) * (n.ndim - 1)), n, o),
                        new, old)


def broadcast(tree: Any, n: int) -> Any:
    """``tree`` (one copy's leaves) repeated for ``n`` copies: every leaf gains a leading axis ``n``."""
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n, *jnp.shape(x))), tree)
