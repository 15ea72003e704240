"""A ``while`` loop whose batched form runs only the copies that still need it.

``lax.while_loop`` under ``vmap`` runs every copy for as many iterations as the slowest one needs
(finished copies are carried along and masked). :func:`compacted_while` gives the same result per
copy, but when it is batched by ``vmap`` it first evaluates the condition for every copy, then
gathers the copies whose condition holds into a buffer of ``buffer`` copies, runs the loop on that
buffer only, scatters the results back and repeats until no copy is left. A batch whose copies
are all done already costs one condition evaluation; a batch where ``k`` copies need the loop
costs about ``ceil(k / buffer)`` loops over ``buffer`` copies.

Each copy's iterations are computed from that copy alone, so its result does not depend on the
other copies of the batch (given batch-invariant kernels inside ``body``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_batching import custom_vmap

#: copies gathered per buffer when the caller does not say: small enough that a few stragglers
#: in a large batch pay little, large enough that a batch-wide need (e.g. just after a reset)
#: takes few rounds
DEFAULT_BUFFER = 32


def buffer_size(batch: int, buffer: int | None) -> int:
    """Copies per gathered buffer for a batch of ``batch`` copies (at least 1, at most ``batch``)."""
    k = DEFAULT_BUFFER if buffer is None else int(buffer)
    return max(1, min(batch, k))


def compacted_while(cond: Callable[[Any, Any], jax.Array], body: Callable[[Any, Any], Any],
                    consts: Any, carry: Any, buffer: int | None = None) -> Any:
    """``lax.while_loop(lambda c: cond(consts, c), lambda c: body(consts, c), carry)``.

    ``consts`` (any pytree of arrays, read-only) and ``carry`` must hold every traced value the
    loop uses: ``cond`` and ``body`` may close over Python values only. Under ``vmap`` the loop
    runs on gathered buffers of the copies whose ``cond`` holds (see the module docstring);
    ``buffer`` sets the buffer size (default :data:`DEFAULT_BUFFER`, clipped to the batch).
    """

    def plain(consts, carry):
        return lax.while_loop(lambda c: cond(consts, c), lambda c: body(consts, c), carry)

    loop = custom_vmap(plain)

    @loop.def_vmap
    def _batched(axis_size, in_batched, consts, carry):
        consts_batched, carry_batched = in_batched
        carry = jax.tree.map(
            lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))),
            carry, carry_batched)
        axes = jax.tree.map(lambda b: 0 if b else None, consts_batched)
        todo = jax.vmap(cond, in_axes=(axes, 0))(consts, carry)
        k = buffer_size(axis_size, buffer)

        def gather(tree, idx, batched):
            return jax.tree.map(lambda x, b: x[idx] if b else x, tree, batched)

        def round_cond(state):
            return jnp.any(state[1])

        def round_body(state):
            carry, todo = state
            idx = jnp.nonzero(todo, size=k, fill_value=-1)[0]
            idx = jnp.where(idx < 0, idx[0], idx)        # pad with a repeat of the first copy
            sub = jax.vmap(plain, in_axes=(axes, 0))(gather(consts, idx, consts_batched),
                                                    jax.tree.map(lambda x: x[idx], carry))
            carry = jax.tree.map(lambda x, y: x.at[idx].set(y), carry, sub)
            return carry, todo.at[idx].set(False)

        carry, _ = lax.while_loop(round_cond, round_body, (carry, todo))
        return carry, jax.tree.map(lambda _: True, carry)

    return loop(consts, carry)
