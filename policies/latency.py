"""Inference latency of a policy, measured so that a busy machine does not decide the verdict.

One measurement is ``rounds`` timed rounds of ``calls`` single-observation ``onnxruntime`` calls (one
intra-op thread) after ``warmup`` untimed calls. Other processes only ever add time to a call, so the
figure kept is the *minimum over rounds* of each round's p99 (and p50): the round least disturbed
by the rest of the machine, still a p99 of ``calls`` samples.

A machine whose 1-minute load average exceeds its usable cores (``os.getloadavg``,
``os.sched_getaffinity``) is *loaded*: the figure is still recorded and shown, but the latency gate
reports it without gating on it (see :func:`twingym.policies.gates.evaluate`), and the report says so.
"""

from __future__ import annotations

import os
import time

import numpy as np
from twingym.policies.runtime import OnnxPolicy

#: defaults of :func:`measure_latency`: 5 rounds x 400 timed calls after 200 warm-up calls.
ROUNDS, CALLS, WARMUP = 5, 400, 200


def machine_load() -> tuple[float, int]:
    """``(1-minute load average, usable CPU cores)``; load is ``nan`` where the OS has no load average."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = float("nan")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return float(load), int(cores)


def summarize_rounds(round_ms: list[np.ndarray], load: float, cores: int) -> dict:
    """The latency evidence from per-round call times (milliseconds) and the machine's load.

    Keys: ``n`` calls per round, ``rounds``, ``p50_ms``/``p99_ms`` (minimum over rounds of each
    round's percentile), ``round_p99_ms`` (every round's p99), ``max_ms`` (slowest call seen),
    ``load_avg``, ``cores`` and ``loaded`` (load average above the core count).
    """
    p50 = [float(np.percentile(ms, 50)) for ms in round_ms]
    p99 = [float(np.percentile(ms, 99)) for ms in round_ms]
    return {"n": len(round_ms[0]), "rounds": len(round_ms), "p50_ms": min(p50), "p99_ms": min(p99),
            "round_p99_ms": p99, "max_ms": float(max(ms.max() for ms in round_ms)),
            "load_avg": load, "cores": cores, "loaded": bool(np.isfinite(load) and load > cores)}


def measure_latency(onnx_bytes: bytes, sample: np.ndarray, calls: int = CALLS, rounds: int = ROUNDS,
                    warmup: int = WARMUP) -> dict:
    """Single-observation latency of ``policy.onnx`` over ``sample`` rows ``(K, obs_dim)``; see
    :func:`summarize_rounds` for the keys."""
    load_before, _ = machine_load()
    policy = OnnxPolicy(onnx_bytes, threads=1)
    rows = np.ascontiguousarray(sample.astype(np.float32))
    for i in range(warmup):
        policy.act(rows[i % len(rows)])
    round_ms = []
    for _ in range(rounds):
        times = np.empty(calls)
        for i in range(calls):
            x = rows[i % len(rows)]
            t0 = time.perf_counter()
            policy.act(x)
            times[i] = time.perf_counter() - t0
        round_ms.append(times * 1e3)
    load_after, cores = machine_load()
    return summarize_rounds(round_ms, max(load_before, load_after), cores)
