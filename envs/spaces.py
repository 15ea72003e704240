"""JAX spaces: pure ``sample(key)`` and ``contains(x)`` that trace under ``jit``/``vmap``.

Each space converts to its gymnasium counterpart with ``to_gymnasium()`` so the adapters hand
standard spaces to gymnasium, stable-baselines3 and RLlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np


class Space:
    """Base class. ``shape`` and ``dtype`` describe one (unbatched) element."""

    shape: tuple[int, ...]
    dtype: Any

    def sample(self, key: jax.Array) -> jax.Array:
        raise NotImplementedError

    def contains(self, x: jax.Array) -> jax.Array:
        """Boolean scalar array: True where ``x`` has this shape and lies inside the space."""
        raise NotImplementedError

    def to_gymnasium(self) -> gymnasium.Space:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Box(Space):
    """Continuous box ``low <= x <= high`` (bounds broadcast to ``shape``; +-inf allowed).

    Args:
        low, high: scalars or arrays broadcastable to ``shape``.
        shape: element shape; inferred from ``low``/``high`` when omitted.
        dtype: float32 by default.
    """

    low: Any
    high: Any
    shape: tuple[int, ...] = ()
    dtype: Any = jnp.float32
    _low: np.ndarray = field(init=False, repr=False)
    _high: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        shape = tuple(self.shape) or np.broadcast_shapes(np.shape(self.low), np.shape(self.high))
        low = np.broadcast_to(np.asarray(self.low, dtype=self.dtype), shape).copy()
        high = np.broadcast_to(np.asarray(self.high, dtype=self.dtype), shape).copy()
        if np.any(low > high):
            raise ValueError("Box: low must be <= high everywhere")
        object.__setattr__(self, "shape", tuple(int(s) for s in shape))
        object.__setattr__(self, "_low", low)
        object.__setattr__(self, "_high", high)

    @property
    def low_array(self) -> np.ndarray:
        return self._low

    @property
    def high_array(self) -> np.ndarray:
        return self._high

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform inside finite bounds; normal (or shifted exponential) along infinite ones."""
        low, high = jnp.asarray(self._low), jnp.asarray(self._high)
        k_u, k_n, k_e = jax.random.split(key, 3)
        uniform = jax.random.uniform(k_u, self.shape, minval=jnp.where(jnp.isfinite(low), low, 0.0),
                                     maxval=jnp.where(jnp.isfinite(high), high, 1.0))
        normal = jax.random.normal(k_n, self.shape)
        expo = jax.random.exponential(k_e, self.shape)
        bounded_low, bounded_high = jnp.isfinite(low), jnp.isfinite(high)
        x = jnp.where(bounded_low & bounded_high, uniform,
                      jnp.where(bounded_low, low + expo, jnp.where(bounded_high, high - expo, normal)))
        return x.astype(self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= self._low) & (x <= self._high) & ~jnp.isnan(x))

    def to_gymnasium(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(low=self._low, high=self._high, shape=self.shape,
                                    dtype=np.dtype(self.dtype))


@dataclass(frozen=True, eq=False)
class Discrete(Space):
    """Integers ``0 .. n-1`` (int32 scalar)."""

    n: int
    shape: tuple[int, ...] = ()
    dtype: Any = jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != ():
            return jnp.asarray(False)
        return (x >= 0) & (x < self.n) & (x == jnp.floor(x))

    def to_gymnasium(self) -> gymnasium.spaces.Discrete:
        return gymnasium.spaces.Discrete(int(self.n))


@dataclass(frozen=True, eq=False)
class MultiDiscrete(Space):
    """Vector of integers, component ``i`` in ``0 .. nvec[i]-1`` (int32, shape ``(len(nvec),)``)."""

    nvec: tuple[int, ...]
    shape: tuple[int, ...] = ()
    dtype: Any = jnp.int32

    def __post_init__(self) -> None:
        nvec = tuple(int(n) for n in np.asarray(self.nvec).ravel())
        if min(nvec) < 1:
            raise ValueError("MultiDiscrete: every nvec entry must be >= 1")
        object.__setattr__(self, "nvec", nvec)
        object.__setattr__(self, "shape", (len(nvec),))

    def sample(self, key: jax.Array) -> jax.Array:
        u = jax.random.uniform(key, self.shape)
        return jnp.floor(u * jnp.asarray(self.nvec)).astype(self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= 0) & (x < jnp.asarray(self.nvec)) & (x == jnp.floor(x)))

    def to_gymnasium(self) -> gymnasium.spaces.MultiDiscrete:
        return gymnasium.spaces.MultiDiscrete(np.asarray(self.nvec, dtype=np.int64))
