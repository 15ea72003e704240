"""``twingym bench``: every benchmark section in one run, one table, one JSON file.

A section is a function ``(quick: bool) -> list[Record]``. Sections come from the twins' benchmark
modules (``twingym.bench.<twin>.records``), the training benchmark, the scaling curves and the
generic env-throughput section here (each built-in twin against the gymnasium adapter loop and
against gymnax CartPole). A section that fails is reported and the others still run.
"""

from __future__ import annotations

import importlib
import json
import resource
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
from rich.console import Console

from twingym.bench.common import Record, env_scan_throughput, machine_info, print_records, record
from twingym.bench.roofline import flop_roofline_fields, matmul_peak_flops, step_cost

console = Console()
QUICK_BATCHES = (1024,)  # --quick: one batch size (the full run: 1 to 16,384)
FULL_BATCHES = (1, 64, 1024, 16384)


def env_section(quick: bool) -> list[Record]:
    """Each built-in twin: jitted-scan steps/s vs its gymnasium loop and vs gymnax CartPole, with
    the flops XLA counts in one step, the flop/s achieved and their fraction of the matmul peak
    measured in the same run."""
    from twingym.bench.common import gym_loop_throughput
    from twingym.bench.reference import cartpole_throughput
    from twingym.envs import BUILTIN_TWINS, make

    batches = QUICK_BATCHES if quick else FULL_BATCHES
    steps = 20 if quick else 100
    cartpole = {b: cartpole_throughput(b, steps=steps) for b in batches}
    peak = matmul_peak_flops(repeats=1 if quick else 3)
    records: list[Record] = []
    for twin_id in sorted(BUILTIN_TWINS):
        env, params = make(twin_id)
        loop = gym_loop_throughput(twin_id, steps=50 if quick else 300)
        for batch in batches:
            rate = env_scan_throughput(env, params, batch, steps=steps, repeats=1 if quick else 3)
            limit = flop_roofline_fields(rate, step_cost(env, params, batch), peak)
            records.append(record(f"{twin_id} env steps/s", "steps/s", rate,
                                  "gymnasium adapter loop", loop, batch=batch, **limit))
            records.append(record(f"{twin_id} env steps/s vs trivial JAX env", "steps/s", rate,
                                  "gymnax CartPole-v1", cartpole[batch], batch=batch))
    return records


def _module_section(module: str) -> Callable[[bool], list[Record]]:
    def run(quick: bool) -> list[Record]:
        return importlib.import_module(f"twingym.bench.{module}").records(quick=quick)
    run.__name__ = module
    return run


#: section name -> function(quick) -> records. Twin and training modules are optional.
SECTIONS: dict[str, Callable[[bool], list[Record]]] = {
    "env": env_section,
    "wind_farm": _module_section("wind_farm"),
    "power_grid": _module_section("power_grid"),
    "assembly_cell": _module_section("assembly_cell"),
    "wind_turbine": _module_section("wind_turbine"),
    "scaling": _module_section("scaling"),
    "scale": _module_section("cluster_scale"),
    "training": lambda quick: importlib.import_module("twingym.bench.training").training_throughput_records(
        quick=quick),
    "live": _module_section("live"),
    "learning": _module_section("learning"),
}


def memory_records() -> list[Record]:
    """Peak host memory of this process and device memory where the backend reports it."""
    records = [record("peak host memory (RSS)", "MiB",
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)]
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
    if stats and "peak_bytes_in_use" in stats:
        records.append(record("peak device memory", "MiB", stats["peak_bytes_in_use"] / 2**20))
    return records


def run_bench(quick: bool = False, only: list[str] | None = None, json_path: Path | None = None) -> int:
    """Run the selected sections; print tables; write JSON. Returns the number of failed sections."""
    info = machine_info()
    console.print(f"[bold]twingym bench[/] ({'quick' if quick else 'full'}) on {info['machine']}, "
                  f"{info['cpu_count']} CPUs, JAX {info['jax']} backend [bold]{info['jax_backend']}[/], "
                  f"devices {info['device']}")
    unknown = sorted(set(only or []) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown bench section(s) {', '.join(unknown)}; valid: {', '.join(SECTIONS)}")
    all_records: list[Record] = []
    failures = 0
    for name, section in SECTIONS.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        try:
            records = section(quick)
        except ModuleNotFoundError as exc:
            console.print(f"[yellow]section {name}: skipped ({exc})[/]")
            continue
        except Exception as exc:  # a failing section must not hide the others
            failures += 1
            console.print(f"[red]section {name} failed: {type(exc).__name__}: {exc}[/]")
            console.print(traceback.format_exc(limit=3), style="dim")
            continue
        for r in records:
            r.setdefault("section", name)
        print_records(records, f"{name} ({time.perf_counter() - start:.0f} s)")
        all_records.extend(records)
    memory = memory_records()
    print_records(memory, "memory")
    all_records.extend(memory)
    for r in all_records:
        r.update({"machine": info["machine"], "jax_backend": info["jax_backend"],
                  "device": info["device"]})
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload: list[dict[str, Any]] = all_records
        json_path.write_text(json.dumps(payload, indent=1, default=float))
        console.print(f"wrote {len(all_records)} records to {json_path}")
    return failures
