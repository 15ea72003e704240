"""Roofline helpers: the machine's measured peak and the work XLA says a program does.

Two figures put a throughput next to the hardware's limit, both taken in the same run as the
figure they judge:

- :func:`matmul_peak_flops`: flop/s of a large float32 matmul on every local device at once (the
  practical compute peak of this backend: XLA's own GEMM, all cores or devices busy);
- :func:`compiled_cost`: flops, transcendentals and bytes that XLA's cost analysis assigns to one
  call of a jitted function (a ``while``/``scan`` body counts once, whatever its trip count).

``achieved flop/s = compiled_cost(f, *args).flops / seconds per call``, and its fraction of
:func:`matmul_peak_flops` says how close ``f`` runs to the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from twingym.bench.common import best_time


class Cost(NamedTuple):
    """XLA's cost analysis of one call: counts per call (not per second)."""

    flops: float
    transcendentals: float
    bytes_accessed: float


def compiled_cost(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Cost:
    """Cost of one call of ``jax.jit(fn)(*args, **kwargs)`` as XLA's cost analysis counts it.

    ``fn`` may already be jitted. Loop bodies (``lax.scan``, ``while_loop``) are counted once.
    """
    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    analysis = jitted.lower(*args, **kwargs).compile().cost_analysis()
    if isinstance(analysis, list | tuple):  # older JAX: one dict per program
        analysis = analysis[0] if analysis else {}
    analysis = analysis or {}
    return Cost(float(analysis.get("flops", 0.0)), float(analysis.get("transcendentals", 0.0)),
                float(analysis.get("bytes accessed", 0.0)))


def matmul_peak_flops(n: int = 1024, dtype: Any = jnp.float32, repeats: int = 3) -> float:
    """Measured flop/s of an ``n x n`` matmul on each local device at once (``2 n^3`` each).

    With several devices (host devices from ``--xla_force_host_platform_device_count``, or
    GPUs) the matmuls are sharded one per device, so the figure is the whole host's peak.
    """
    devices = jax.local_devices()
    mesh = jax.sharding.Mesh(np.asarray(devices), ("d",))
    sharding = NamedSharding(mesh, PartitionSpec("d"))
    k = len(devices)
    a = jax.device_put(jnp.ones((k, n, n), dtype) / n, sharding)
    b = jax.device_put(jnp.ones((k, n, n), dtype) / n, sharding)
    matmul = jax.jit(lambda a, b: jnp.einsum("kij,kjl->kil", a, b), out_shardings=sharding)
    jax.block_until_ready(matmul(a, b))
    seconds = best_time(lambda: jax.block_until_ready(matmul(a, b)), repeats=repeats)
    return 2.0 * k * n**3 / seconds


def fraction(achieved: float, limit: float) -> float | None:
    """``achieved / limit`` (None when the limit is unknown or zero)."""
    return achieved / limit if limit and limit > 0 else None


def step_cost(env: Any, params: Any, batch: int) -> Cost:
    """XLA's cost of one batched ``env.step`` over ``batch`` copies, per copy."""
    keys = jax.random.split(jax.random.key(0), batch)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    actions = jax.vmap(env.action_space(params).sample)(keys)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    cost = compiled_cost(lambda k, s, a: step(k, s, a, params), keys, state, actions)
    return Cost(*(c / batch for c in cost))


def flop_roofline_fields(steps_per_second: float, cost: Cost, peak_flops: float) -> dict[str, float]:
    """Record fields placing a step rate against the matmul peak: achieved flop/s and its fraction."""
    achieved = steps_per_second * cost.flops
    return {"flops_per_step": cost.flops, "transcendentals_per_step": cost.transcendentals,
            "achieved_gflops": achieved / 1e9, "matmul_peak_gflops": peak_flops / 1e9,
            "fraction_of_matmul_peak": fraction(achieved, peak_flops)}
