"""Running mean/variance statistics as a pure pytree (kept inside the JAX PPO train state).

The network sees ``clip((obs - mean) / sqrt(var + EPSILON), -CLIP, CLIP)``, the same formula as
``PolicySpec.normalise`` and SB3's ``VecNormalize``, so the statistics export unchanged.
Batches are merged with the parallel (Chan et al.) update; the count starts at ``1e-4`` like SB3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

EPSILON = 1e-8
CLIP = 10.0


@struct.dataclass
class RunningStats:
    """``mean``, ``var``: (dim,) float32; ``count``: scalar float32 (number of samples merged)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> RunningStats:
        return cls(mean=jnp.zeros(shape, jnp.float32), var=jnp.ones(shape, jnp.float32),
                   count=jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> RunningStats:
        """Merge a batch ``(n, *shape)`` of samples."""
        batch = batch.astype(jnp.float32)
        b_mean = jnp.mean(batch, axis=0)
        b_var = jnp.var(batch, axis=0)
        b_count = jnp.asarray(batch.shape[0], jnp.float32)
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        return RunningStats(mean=mean, var=m2 / total, count=total)

    def normalise(self, x: jax.Array) -> jax.Array:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + EPSILON), -CLIP, CLIP)

