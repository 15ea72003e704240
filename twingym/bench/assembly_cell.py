"""AssemblyCell-v0 benchmark: env steps/s through a jitted scan at batch sizes 1 to 16,384, next to
the gymnasium single-env adapter in a Python loop (goal: >= 500x at the largest batch), and the
Bernoulli-line parity figures (simulated throughput against Li & Meerkov's formulas).

Run ``python -m twingym.bench.assembly_cell [--quick]``.
"""

from __future__ import annotations

import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from twingym.bench.common import (
    Record,
    env_throughput_records,
    machine_info,
    print_records,
    record,
)

TWIN_ID = "AssemblyCell-v0"
BATCHES = (1, 64, 1024, 16384)
QUICK_BATCHES = (1, 1024)
#: (p, buffers) Bernoulli lines reported by the parity section
PARITY_LINES = (((0.9, 0.8), (2,)), ((0.85, 0.85), (3,)), ((0.9, 0.85, 0.88, 0.84, 0.9), (3, 3, 3, 3)))


def throughput_records(batches=BATCHES, steps: int = 100, gym_steps: int = 300,
                       repeats: int = 3) -> list[Record]:
    """Jitted-scan env steps/s per batch size against the gymnasium adapter loop (same run)."""
    from twingym.envs import make

    return env_throughput_records(TWIN_ID, *make(TWIN_ID), batches=batches, steps=steps,
                                  gym_steps=gym_steps, repeats=repeats)


@partial(jax.jit, static_argnums=(0, 2, 3))
def _line_throughput(env, params, batch: int, steps: int, key):
    from twingym.envs.assembly_cell import nominal_action

    action = nominal_action(params.num_stations)
    k_reset, k_run = jax.random.split(key)
    _, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, batch), params)

    def body(state, k):
        _, state, _, _, _, info = jax.vmap(env.step, (0, 0, None, None))(
            jax.random.split(k, batch), state, action, params)
        return state, jnp.sum(info["parts_out"])

    _, outs = jax.lax.scan(body, state, jax.random.split(k_run, steps))
    warm = steps // 20
    return jnp.sum(outs[warm:]) / (batch * (steps - warm))


def parity_records(batch: int = 1024, steps: int = 4000) -> list[Record]:
    """Simulated long-run throughput of Bernoulli lines against the analytic reference
    (exact two-machine formula, aggregation for longer lines); ``ratio`` = simulated / analytic."""
    from twingym.envs.assembly_cell import aggregation, bernoulli_line

    records = []
    for p, n in PARITY_LINES:
        env, params = bernoulli_line(p, n)
        sim = float(_line_throughput(env, params, batch, steps, jax.random.PRNGKey(0)))
        ref = aggregation(p, n)[0]
        name = "exact 2-machine formula" if len(p) == 2 else "Li-Meerkov aggregation"
        records.append(record(f"Bernoulli line p={list(p)} N={list(n)} throughput", "parts/cycle", sim,
                              name, ref, rel_error=abs(sim - ref) / ref))
    return records


def records(quick: bool = False) -> list[Record]:
    """All AssemblyCell figures (``quick``: two batch sizes, shorter loops, smaller parity runs)."""
    if quick:
        out = throughput_records(QUICK_BATCHES, steps=20, gym_steps=50, repeats=1)
        return out + parity_records(batch=256, steps=1000)
    return throughput_records() + parity_records()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    recs = records(quick="--quick" in argv)
    info = machine_info()
    print_records(recs, f"AssemblyCell-v0 on {info['machine']} ({info['jax_backend']}, "
                        f"{info['cpu_count']} CPUs)")
    best = [r for r in recs if r["batch"] == max(r["batch"] or 0 for r in recs)]
    if best:
        print(f"ratio at batch {best[0]['batch']}: {best[0]['ratio']:.0f}x (goal >= 500x)")
    np.set_printoptions(precision=4)


if __name__ == "__main__":
    main()
