"""PowerGrid-v0 benchmark: batched AC power flows and env steps, next to pandapower and the
machine's measured limit.

1. AC power flows per second (:class:`~twingym.envs.power_grid.batch.BatchFlow`, float64) on
   case118, case300, case1354pegase and case2869pegase: many operating points (every load scaled
   by an independent factor in [0.8, 1.2]) in one jitted call, next to ``pandapower.runpp`` on the
   first of the same points, one at a time, in the same run. Both solve to pandapower's default
   tolerance (largest per-unit mismatch below 1e-8). Every record carries both converged
   fractions (ours over the batch and over the points pandapower ran, pandapower's), the largest
   voltage deviation from pandapower where both converged, the flow rate per core, and the
   achieved flop/s: XLA's cost analysis of one iteration of each phase (mismatch, chord
   direction, Newton direction) times the iterations each copy ran, plus ``2 nnz(L+U)`` per
   chord direction for the SuperLU back end, over a float64 matmul peak measured in the same run.
2. PowerGrid-v0 (case14) env steps per second through a jitted scan, next to the gymnasium
   adapter loop, with the achieved flop/s (XLA cost analysis of one batched step; loop bodies
   counted once, so a lower bound) over the float32 matmul peak.

Run ``python -m twingym.bench.power_grid [--quick]``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from twingym.bench.common import (
    Record,
    best_time,
    env_scan_throughput,
    gym_loop_throughput,
    machine_info,
    print_records,
    record,
)
from twingym.bench.roofline import compiled_cost, fraction, matmul_peak_flops

TWIN_ID = "PowerGrid-v0"
FLOW_CASES = {"case118": (1, 64, 1024), "case300": (64,), "case1354pegase": (64,),
              "case2869pegase": (64,)}
QUICK_FLOW_CASES = {"case118": (64,), "case300": (64,), "case1354pegase": (64,)}
PP_RUNS = {"case118": 20, "case300": 64, "case1354pegase": 8, "case2869pegase": 5}
ENV_BATCHES = (1, 1024, 4096)
TOL = 1e-8


def _case(name: str):
    import pandapower.networks as pn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(pn, name)()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def operating_points(network, batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scales (batch, n_load), p_spec, q_spec (batch, n_bus) pu)``: every load of the base
    case scaled by an independent factor in [0.8, 1.2]."""
    from twingym.envs.power_grid.api import problem_arrays
    with jax.enable_x64(True):
        a = problem_arrays(network, jnp.float64)
        p0, q0 = np.asarray(a["p_spec"]), np.asarray(a["q_spec"])
    scales = np.random.default_rng(seed).uniform(0.8, 1.2, (batch, len(network.load_bus)))
    extra_p = np.zeros((batch, network.n_bus))
    extra_q = np.zeros((batch, network.n_bus))
    for i in range(batch):
        np.add.at(extra_p[i], network.load_bus, network.load_p_mw * (scales[i] - 1) / network.sn_mva)
        np.add.at(extra_q[i], network.load_bus, network.load_q_mvar * (scales[i] - 1) / network.sn_mva)
    return scales, p0 - extra_p, q0 - extra_q


def pandapower_runs(case: str, scales: np.ndarray) -> tuple[float, np.ndarray, list]:
    """``(runpp calls/s, converged (k,), vm_pu per point or None)`` for the given load scales,
    at pandapower's default tolerance and Newton-Raphson iteration limit."""
    import pandapower as pp
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    net = _case(case)
    p0, q0 = net.load.p_mw.to_numpy().copy(), net.load.q_mvar.to_numpy().copy()
    pp.runpp(net)  # warm-up (imports, lookups)
    converged, vms = [], []
    seconds = 0.0
    for scale in scales:
        net.load["p_mw"], net.load["q_mvar"] = p0 * scale, q0 * scale
        start = time.perf_counter()
        try:
            pp.runpp(net, tolerance_mva=TOL)
            ok = True
        except pp.LoadflowNotConverged:
            ok = False
        seconds += time.perf_counter() - start
        converged.append(ok)
        vms.append(net.res_bus.vm_pu.to_numpy().copy() if ok else None)
    return len(scales) / seconds, np.asarray(converged), vms


def _flops_per_batch(flow, res) -> float:
    """Floating-point work of one solved batch: XLA's cost analysis of one iteration of each
    phase for one copy, times the iterations each copy ran; SuperLU triangular solves as
    ``2 nnz(L+U)`` per chord direction (Newton factorisations on the host are not counted)."""
    from twingym.envs.power_grid import powerflow
    with jax.enable_x64(True):
        x = flow.x_ref
        f = jnp.zeros_like(x)
        mis = compiled_cost(lambda x: powerflow.mismatch(x, flow.problem, False, flow.branches),
                            x).flops
        if flow.jinv is not None:
            chord = compiled_cost(lambda f: flow.jinv @ f, f).flops
            newton = compiled_cost(lambda x, f: jnp.linalg.solve(
                powerflow.jacobian(x, flow.problem), f), x, f).flops
        else:
            chord, newton = 2.0 * flow.factor_nnz, 0.0
    its = np.asarray(res.iterations, np.float64)
    newton_its = np.asarray(res.newton_iterations, np.float64)
    chord_its = its - newton_its
    return float(np.sum(chord_its * (mis + chord) + newton_its * (mis + newton) + mis))


def ac_flow_records(case: str = "case118", batches=(64,), pp_runs: int | None = None,
                    peak64: float | None = None) -> list[Record]:
    """Batched AC flows/s of ``case`` against pandapower runpp on the same points (same run)."""
    from twingym.envs.power_grid import from_pandapower
    from twingym.envs.power_grid.batch import BatchFlow

    network = from_pandapower(_case(case))
    flow = BatchFlow(network, tol=TOL)
    runs = PP_RUNS.get(case, 20) if pp_runs is None else pp_runs
    scales, _, _ = operating_points(network, max(max(batches), runs))
    pp_rate, pp_ok, pp_vm = pandapower_runs(case, scales[:runs])
    cores = _cores()
    out = []
    for batch in batches:
        _, p, q = operating_points(network, max(batch, runs))
        res = jax.block_until_ready(flow.solve(p, q))          # compile; points 0..runs-1 first
        ours_ok = np.asarray(res.converged)
        vm = np.asarray(res.vm)
        both = [i for i in range(runs) if pp_ok[i] and ours_ok[i]]
        vm_err = max((float(np.max(np.abs(vm[i] - pp_vm[i]))) for i in both), default=float("nan"))
        p, q = p[:batch], q[:batch]
        res = jax.block_until_ready(flow.solve(p, q))
        seconds = best_time(lambda p=p, q=q: jax.block_until_ready(flow.solve(p, q)), repeats=3)
        achieved = _flops_per_batch(flow, res) / seconds
        its = np.asarray(res.iterations)
        out.append(record(
            f"{case} AC power flows/s (JAX, float64, {flow.linear})", "flows/s", batch / seconds,
            "pandapower runpp (1 flow/call)", pp_rate, batch=batch,
            converged=float(np.mean(np.asarray(res.converged))),
            converged_on_pp_points=float(np.mean(ours_ok[:runs])),
            pp_converged=float(np.mean(pp_ok)), pp_points=runs,
            flows_per_s_per_core=batch / seconds / cores,
            iterations_median=float(np.median(its)), iterations_max=int(np.max(its)),
            newton_copies=int(np.sum(np.asarray(res.newton_iterations) > 0)),
            vm_err_pu=vm_err, achieved_gflops=achieved / 1e9,
            peak_fraction=fraction(achieved, peak64 or 0.0)))
    return out


def env_records(batches=ENV_BATCHES, steps: int = 50, gym_steps: int = 200,
                peak32: float | None = None) -> list[Record]:
    """PowerGrid-v0 (case14) env steps/s per batch against the gymnasium adapter loop, with the
    achieved flop/s of one batched step (XLA cost analysis) over the float32 matmul peak."""
    from twingym.envs import make

    env, params = make(TWIN_ID)
    loop = gym_loop_throughput(TWIN_ID, steps=gym_steps)
    out = []
    for batch in batches:
        rate = env_scan_throughput(env, params, batch, steps=steps, repeats=2)
        keys = jax.random.split(jax.random.key(0), batch)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
        actions = jnp.zeros((batch, *env.action_space(params).shape), jnp.float32)
        step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
        flops = compiled_cost(step, keys, state, actions, params).flops / batch
        achieved = flops * rate
        out.append(record(f"{TWIN_ID} env steps/s (case14, jitted scan)", "steps/s", rate,
                          "gymnasium adapter loop (1 copy)", loop, batch=batch,
                          flops_per_step=flops, achieved_gflops=achieved / 1e9,
                          peak_fraction=fraction(achieved, peak32 or 0.0)))
    return out


def peak_records() -> tuple[list[Record], float, float]:
    """Matmul peaks (float32 and float64) measured now, as records and values."""
    peak32 = matmul_peak_flops(1024, jnp.float32)
    with jax.enable_x64(True):
        peak64 = matmul_peak_flops(1024, jnp.float64)
    return ([record("matmul peak (float32, 1024^3, all devices)", "Gflop/s", peak32 / 1e9),
             record("matmul peak (float64, 1024^3, all devices)", "Gflop/s", peak64 / 1e9)],
            peak32, peak64)


def run(quick: bool = False) -> list[Record]:
    """All records of this benchmark."""
    info = machine_info()
    records, peak32, peak64 = peak_records()
    for case, batches in (QUICK_FLOW_CASES if quick else FLOW_CASES).items():
        records += ac_flow_records(case, batches=batches,
                                   pp_runs=min(PP_RUNS[case], 8) if quick else None,
                                   peak64=peak64)
    if not quick:  # --quick: the runner's env section already has PowerGrid-v0 at batch 1 and 1024
        records += env_records(batches=ENV_BATCHES, peak32=peak32)
    for r in records:
        r["machine"] = info["machine"]
        r["jax_backend"] = info["jax_backend"]
        r["device"] = str(jax.devices()[0].device_kind)
        r["load_1min"] = os.getloadavg()[0]
    return records


def records(quick: bool = False) -> list[Record]:
    """Entry point used by ``twingym bench`` (``twingym.bench.runner``)."""
    return run(quick=quick)


def main(argv: list[str] | None = None) -> list[Record]:
    argv = sys.argv[1:] if argv is None else argv
    records = run(quick="--quick" in argv)
    print_records(records, "PowerGrid-v0: batched AC power flow and env throughput")
    return records


if __name__ == "__main__":
    main()
