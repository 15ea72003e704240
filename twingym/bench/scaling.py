"""Scaling curves: cost against farm size, grid size and batch size, with memory.

- Farm size: ``farm_power`` on square-ish grid layouts of 4..100 turbines (7 D spacing), 256
  conditions per call. The sweep visits n turbines and each adds its wake to all n x 9 rotor points,
  so the arithmetic grows as n^2 per condition; the fitted exponent is reported beside it.
- Grid size: batched AC power flow (our Newton-Raphson, 64 operating points per call) on
  pandapower's case14 .. case300 next to pandapower ``runpp`` on the same cases. The dense
  solve grows as buses^3 at worst; the fitted exponent is reported.
- Batch size: env steps/s of each built-in twin at batch 1..16,384 with the compiled program's
  memory (XLA's memory analysis: arguments + outputs + temporaries) at each batch.

Memory figures come from XLA's compiled memory analysis (bytes the program needs), which is what
grows with the work; the process's peak RSS is reported once by the runner.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from twingym.bench.common import Record, _scan_steps, best_time, env_scan_throughput, record

FARM_SIZES = (4, 9, 16, 25, 49, 100)
QUICK_FARM_SIZES = (4, 16, 49)
GRID_CASES = ("case14", "case30", "case57", "case118", "case300")
QUICK_GRID_CASES = ("case14", "case118")
BATCHES = (1, 64, 1024, 16384)
QUICK_BATCHES = (1, 1024)


def compiled_bytes(jitted, *args) -> float:
    """Bytes XLA's memory analysis reports for ``jitted(*args)`` (args + outputs + temps)."""
    compiled = jitted.lower(*args).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        return float("nan")
    return float(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
                 + analysis.temp_size_in_bytes)


def _fit_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def farm_size_records(quick: bool) -> list[Record]:
    from twingym.envs.wind_farm import farm_power

    conditions = 256
    rng = np.random.default_rng(0)
    wd = jnp.asarray(rng.uniform(0, 360, conditions), jnp.float32)
    ws = jnp.asarray(rng.uniform(4, 20, conditions), jnp.float32)
    ti = jnp.asarray(rng.uniform(0.04, 0.12, conditions), jnp.float32)
    sizes, times, records = [], [], []
    for n in (QUICK_FARM_SIZES if quick else FARM_SIZES):
        cols = math.ceil(math.sqrt(n))
        idx = np.arange(n)
        x = jnp.asarray((idx % cols) * 7 * 126.0, jnp.float32)
        y = jnp.asarray((idx // cols) * 7 * 126.0, jnp.float32)
        jax.block_until_ready(farm_power(x, y, wd, ws, ti))
        seconds = best_time(lambda x=x, y=y: jax.block_until_ready(farm_power(x, y, wd, ws, ti)),
                            repeats=1 if quick else 3)
        memory = compiled_bytes(jax.jit(farm_power), x, y, wd, ws, ti)
        sizes.append(n)
        times.append(seconds)
        records.append(record("farm_power turbine-conditions/s vs farm size", "turbine-conditions/s",
                              n * conditions / seconds, batch=conditions, turbines=n,
                              memory_mib=memory / 2**20))
    exponent = _fit_exponent(sizes, times)
    records.append(record("farm_power time growth exponent (time ~ n^k, arithmetic k=2)", "k", exponent))
    return records


def grid_size_records(quick: bool) -> list[Record]:
    """Batched AC power flows/s (64 operating points per call) against buses, next to pandapower
    runpp on the same case (measured by the power-grid benchmark's own functions)."""
    import pandapower.networks as pn

    from twingym.bench.power_grid import ac_flow_records

    buses, times, records = [], [], []
    for case in (QUICK_GRID_CASES if quick else GRID_CASES):
        n_bus = len(getattr(pn, case)().bus)
        row = ac_flow_records(case, batches=(64,), pp_runs=5 if quick else 20)[-1]
        row = {**row, "metric": f"AC power flows/s vs grid size ({case})", "buses": n_bus}
        buses.append(n_bus)
        times.append(1.0 / row["ours"])
        records.append(row)
    if len(buses) > 1:
        records.append(record("AC power flow time growth exponent (time ~ buses^k)", "k",
                              _fit_exponent(buses, times)))
    return records


def batch_size_records(quick: bool) -> list[Record]:
    from twingym.envs import BUILTIN_TWINS, make

    records = []
    for twin_id in sorted(BUILTIN_TWINS):
        env, params = make(twin_id)
        for batch in (QUICK_BATCHES if quick else BATCHES):
            rate = env_scan_throughput(env, params, batch, steps=20, repeats=1)
            memory = compiled_bytes(_scan_steps, env, params, batch, 20, jax.random.key(0))
            records.append(record(f"{twin_id} steps/s vs batch", "steps/s", rate,
                                  batch=batch, memory_mib=memory / 2**20))
    return records


def records(quick: bool = False) -> list[Record]:
    """All scaling curves (farm size, grid size, batch size; batch size only in the full run)."""
    out = farm_size_records(quick)
    try:
        out += grid_size_records(quick)
    except (ImportError, AttributeError) as exc:
        out.append(record(f"grid size scaling skipped: {exc}", "", float("nan")))
    if not quick:  # --quick: the runner's env section already measures every twin at its batches
        out += batch_size_records(quick)
    return out
