"""Shared measurement helpers for the benchmarks: jitted-scan and gymnasium-loop throughput.

All figures are steps (or calls) per second measured on this machine in this run; peers are measured
in the same run so ratios stay meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium
import jax
from rich.console import Console
from rich.table import Table

from twingym.agents.sharding import batch_mesh, constrain_batch

Record = dict[str, Any]


def best_time(fn: Callable[[], Any], repeats: int = 3, min_seconds: float = 0.2) -> float:
    """Best wall time (s) of ``fn()`` over ``repeats`` runs (each repeated until ``min_seconds``).

    ``fn`` must block until its work is done (call ``jax.block_until_ready`` inside).
    """
    best = float("inf")
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        while True:
            fn()
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / count)
    return best


@partial(jax.jit, static_argnums=(0, 2, 3))
def _scan_steps(env, params, batch: int, steps: int, key):
    mesh = batch_mesh(batch, env)  # the batch split over every local device (one, if the twin cannot be split)
    keys = constrain_batch(jax.random.split(key, batch), mesh)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    space = env.action_space(params)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def body(state, k):
        k_act, k_step = jax.random.split(k)
        actions = jax.vmap(space.sample)(constrain_batch(jax.random.split(k_act, batch), mesh))
        keys = constrain_batch(jax.random.split(k_step, batch), mesh)
        _, state, reward, *_ = step(keys, state, actions, params)
        return constrain_batch(state, mesh), reward.sum()

    state, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
    return rewards.sum()


def env_scan_throughput(env, params, batch: int, steps: int = 100, repeats: int = 3) -> float:
    """Env steps per second (``batch`` copies x ``steps`` in one jitted ``lax.scan``, random actions).

    The batch is split over the local devices (:func:`twingym.agents.sharding.batch_mesh`).

    Compilation is excluded (one warm-up call); the reset inside the timed call is amortised over
    ``steps``.
    """
    key = jax.random.key(0)
    jax.block_until_ready(_scan_steps(env, params, batch, steps, key))
    seconds = best_time(lambda: jax.block_until_ready(_scan_steps(env, params, batch, steps, key)),
                        repeats=repeats)
    return batch * steps / seconds


def gym_loop_throughput(twin_id: str, steps: int = 300, **param_overrides: Any) -> float:
    """Steps per second of one copy through ``gymnasium.make("twingym/<id>")`` in a Python loop."""
    env = gymnasium.make(f"twingym/{twin_id}", **param_overrides)
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(5):  # compile
        env.step(env.action_space.sample())
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def record(metric: str, unit: str, ours: float, peer_name: str | None = None, peer: float | None = None,
           batch: int | None = None, higher_is_better: bool = True, **extra: Any) -> Record:
    """One benchmark record; ``ratio`` is ours/peer (or peer/ours when lower is better)."""
    ratio = None
    if peer is not None and peer > 0 and ours > 0:
        ratio = ours / peer if higher_is_better else peer / ours
    return {"metric": metric, "unit": unit, "ours": float(ours), "peer_name": peer_name,
            "peer": None if peer is None else float(peer), "ratio": ratio, "batch": batch, **extra}


def machine_info() -> dict[str, Any]:
    """The machine and JAX backend the figures come from."""
    import os

    return {"machine": f"{platform.node()} {platform.processor() or platform.machine()}",
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "jax_backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "device": f"{jax.device_count()} x {jax.devices()[0].device_kind}"}


def env_throughput_records(twin_id: str, env, params, batches=(1, 64, 1024, 16384), steps: int = 100,
                           gym_steps: int = 300, repeats: int = 3) -> list[Record]:
    """Env steps/s at each batch size through a jitted scan, against the gymnasium adapter loop."""
    gym_rate = gym_loop_throughput(twin_id, steps=gym_steps)
    records = []
    for batch in batches:
        rate = env_scan_throughput(env, params, batch, steps=steps, repeats=repeats)
        records.append(record(f"{twin_id} env steps/s (jitted scan)", "steps/s", rate,
                              "gymnasium adapter loop (1 copy)", gym_rate, batch=batch))
    return records


def print_records(records: list[Record], title: str) -> None:
    """Rich table of records."""
    table = Table(title=title)
    for col in ("metric", "batch", "ours", "peer", "peer value", "ratio", "notes"):
        table.add_column(col, justify="right" if col not in ("metric", "peer", "notes") else "left")
    base = {"metric", "unit", "ours", "peer_name", "peer", "ratio", "batch", "section", "machine",
            "jax_backend", "device"}
    for r in records:
        notes = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in r.items() if k not in base)
        table.add_row(r["metric"], "" if r.get("batch") is None else str(r["batch"]),
                      f"{r['ours']:.4g} {r['unit']}", r.get("peer_name") or "",
                      "" if r.get("peer") is None else f"{r['peer']:.4g}",
                      "" if r.get("ratio") is None else f"{r['ratio']:.1f}x", notes)
    Console(width=max(Console().width, 160)).print(table)

