"""PowerGrid-v0 benchmark.

1. AC power flows per second on case118: many operating points (every bus's load scaled by an
   independent factor in [0.8, 1.2]) solved in one vmapped, jitted call in float64 with the
   chord-Newton solver (Jacobian factorised once per grid, exact Newton only where needed), next
   to ``pandapower.runpp`` on the same kind of operating points, one at a time. The records also
   carry the largest deviation of the batched solutions from pandapower's on a sample, and the
   converged fraction.
2. PowerGrid-v0 env steps per second through a jitted scan at several batch sizes, next to the
   gymnasium adapter in a Python loop (one copy).

Run ``python -m twingym.bench.power_grid [--quick]``.
"""

from __future__ import annotations

import logging
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

TWIN_ID = "PowerGrid-v0"
FLOW_BATCHES = (1, 64, 1024)
ENV_BATCHES = (1, 256, 4096)


def _case(name: str):
    import pandapower.networks as pn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(pn, name)()


def pandapower_runpp_rate(case: str = "case118", runs: int = 20, seed: int = 0) -> tuple[float, list]:
    """pandapower ``runpp`` calls per second on random operating points; also returns a few
    (scale, vm) samples for the accuracy check."""
    import pandapower as pp
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    net = _case(case)
    p0, q0 = net.load.p_mw.to_numpy().copy(), net.load.q_mvar.to_numpy().copy()
    rng = np.random.default_rng(seed)
    samples = []
    pp.runpp(net)  # warm-up (imports, lookups)
    start = time.perf_counter()
    for i in range(runs):
        scale = rng.uniform(0.8, 1.2, len(p0))
        net.load["p_mw"], net.load["q_mvar"] = p0 * scale, q0 * scale
        pp.runpp(net)
        if i < 4:
            samples.append((scale, net.res_bus.vm_pu.to_numpy().copy(),
                            net.res_bus.va_degree.to_numpy().copy()))
    return runs / (time.perf_counter() - start), samples


def batched_flow_solver(case: str = "case118"):
    """``(solve, arrays, network)``: ``solve(p_spec, q_spec)`` solves a batch of operating points
    (``(B, n)`` pu each) in float64; call it inside ``jax.enable_x64(True)``."""
    from twingym.envs.power_grid import from_pandapower, powerflow
    from twingym.envs.power_grid.api import build_problem, dc_angles, problem_arrays

    network = from_pandapower(_case(case))
    with jax.enable_x64(True):
        a = problem_arrays(network, jnp.float64)
        prob, _ = build_problem(a)
        va0, _ = dc_angles(a)
        base = powerflow.solve_ac(prob, powerflow.initial_point(prob, va0), None, tol=1e-10)
        x_ref = jnp.concatenate([base.va, base.vm])
        jinv = powerflow.reference_jacobian_inverse(prob, x_ref)

    @jax.jit
    def solve(p_spec, q_spec):
        def one(p, q):
            return powerflow.solve_ac(prob._replace(p_spec=p, q_spec=q), x_ref, jinv,
                                      max_chord=30, max_newton=10, tol=1e-8 / network.sn_mva)
        return jax.vmap(one)(p_spec, q_spec)

    return solve, a, network


def ac_flow_records(case: str = "case118", batches=FLOW_BATCHES, pp_runs: int = 20) -> list[Record]:
    """Batched AC flows/s against pandapower runpp (same run), with an accuracy check."""
    pp_rate, samples = pandapower_runpp_rate(case, runs=pp_runs)
    solve, a, network = batched_flow_solver(case)
    rng = np.random.default_rng(1)
    load_p = np.zeros(network.n_bus)
    load_q = np.zeros(network.n_bus)
    out = []
    with jax.enable_x64(True):
        p_base, q_base = np.asarray(a["p_spec"]), np.asarray(a["q_spec"])
        # accuracy: the pandapower samples solved in one batch
        np.add.at(load_p, network.load_bus, network.load_p_mw / network.sn_mva)
        np.add.at(load_q, network.load_bus, network.load_q_mvar / network.sn_mva)

        def spec(scales):
            lp = np.zeros((len(scales), network.n_bus))
            lq = np.zeros((len(scales), network.n_bus))
            for i, s in enumerate(scales):
                np.add.at(lp[i], network.load_bus, network.load_p_mw * s / network.sn_mva)
                np.add.at(lq[i], network.load_bus, network.load_q_mvar * s / network.sn_mva)
            return (jnp.asarray(p_base + load_p - lp), jnp.asarray(q_base + load_q - lq))

        res = solve(*spec([s for s, _, _ in samples]))
        vm_err = max(float(np.max(np.abs(np.asarray(res.vm[i]) - vm)))
                     for i, (_, vm, _) in enumerate(samples))
        va_err = max(float(np.max(np.abs(np.rad2deg(np.asarray(res.va[i])) - va)))
                     for i, (_, _, va) in enumerate(samples))
        for batch in batches:
            scales = rng.uniform(0.8, 1.2, (batch, len(network.load_bus)))
            p, q = spec(scales)
            res = jax.block_until_ready(solve(p, q))
            seconds = best_time(lambda p=p, q=q: jax.block_until_ready(solve(p, q)), repeats=3)
            out.append(record(f"{case} AC power flows/s (JAX, float64, batched)", "flows/s",
                              batch / seconds, "pandapower runpp (1 flow/call)", pp_rate,
                              batch=batch, converged=float(np.mean(np.asarray(res.converged))),
                              iterations_max=int(np.max(np.asarray(res.iterations))),
                              vm_err_pu=vm_err, va_err_deg=va_err))
    return out


def env_records(batches=ENV_BATCHES, steps: int = 50, gym_steps: int = 200) -> list[Record]:
    """PowerGrid-v0 (case14) env steps/s per batch against the gymnasium adapter loop."""
    from twingym.envs import make

    env, params = make(TWIN_ID)
    loop = gym_loop_throughput(TWIN_ID, steps=gym_steps)
    return [record(f"{TWIN_ID} env steps/s (case14, jitted scan)", "steps/s",
                   env_scan_throughput(env, params, batch, steps=steps, repeats=2),
                   "gymnasium adapter loop (1 copy)", loop, batch=batch)
            for batch in batches]


def run(quick: bool = False) -> list[Record]:
    """All records of this benchmark."""
    info = machine_info()
    records = ac_flow_records(batches=(1, 256) if quick else FLOW_BATCHES,
                              pp_runs=8 if quick else 20)
    if not quick:  # --quick: the runner's env section already has PowerGrid-v0 at batch 1 and 1024
        records += env_records(batches=ENV_BATCHES)
    for r in records:
        r["machine"] = info["machine"]
        r["jax_backend"] = info["jax_backend"]
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
