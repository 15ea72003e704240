"""``bench --only scale``: training throughput from one to two devices, processes and Ray nodes.

Weak scaling, as GPU-cluster series report it: the work per device (env copies, env runners) is
fixed, so N devices step N times the copies; efficiency is the per-device rate at N over the rate
at one, ``rate_N / (N * rate_1)`` (1.0 is linear).

- JAX PPO (``jax_ppo``): the compiled PPO chunk on ``WindFarm-v0`` with ``COPIES_PER_DEVICE`` copies
  per device, each configuration in fresh subprocesses: 1 device; 2 devices of one process
  (``--xla_force_host_platform_device_count=2``, the batch sharded); 2 processes of one device each
  (``jax.distributed`` on localhost, gloo collectives). Rate: env steps per second of whole chunks
  after a compiling warm-up chunk. Measured twice: unpinned (XLA's thread pools spread every
  process over all cores), and pinned (``taskset`` to one core per device, one XLA thread per device:
  ``ONE_THREAD_FLAGS``), the fair comparison of one core against two; the pinned group adds two
  processes launched by Ray (:mod:`twingym.training.ray_jax`) on a local two-node cluster.
- RLlib PPO: one env runner, then one per node, on a real local Ray cluster of 2 nodes of one CPU
  each (:mod:`twingym.bench.local_cluster`); rate: env steps sampled per second of ``algo.train()``
  (sampling and the learner update together).

On a CPU machine the "devices" share its cores: XLA's host devices and the extra process only
scale as far as idle cores allow, so figures here say what the code does on this machine, not what
a GPU cluster reaches.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from twingym.bench.common import Record, record

TWIN = "WindFarm-v0"
COPIES_PER_DEVICE = 256
ROLLOUT = 32
TIMED_CHUNKS = 3
RLLIB_ENVS_PER_RUNNER = 32
RLLIB_ITERATIONS = 3


#: XLA flags that keep one device's work on one thread (so ``taskset`` to N cores is a fair N-core run).
ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _jax_worker(devices_total: int, chunks: int, core: int | None = None) -> dict[str, Any]:
    """PPO chunks with ``COPIES_PER_DEVICE * devices_total`` copies; steps/s. ``core``: first pin this
    process to that CPU core (before JAX starts its threads)."""
    if core is not None:
        os.sched_setaffinity(0, {core})
    import jax

    from twingym.agents.jax_ppo import JaxPPOParams, make_train
    from twingym.envs import make

    env, params = make(TWIN)
    hp = JaxPPOParams(num_envs=COPIES_PER_DEVICE * devices_total, rollout_steps=ROLLOUT, num_minibatches=4,
                      num_epochs=2, updates_per_chunk=2, hidden_sizes=[64, 64])
    total = hp.num_envs * hp.rollout_steps * hp.updates_per_chunk * (chunks + 1)
    tr = make_train(hp, env, params, total)
    state = tr.init(jax.random.PRNGKey(0))
    state, metrics = tr.chunk(state)  # compile
    jax.block_until_ready(metrics)
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    for _ in range(chunks):
        state, metrics = tr.chunk(state)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - t0
    return {"steps_per_s": chunks * tr.updates_per_chunk * tr.steps_per_update / seconds,
            "devices": jax.device_count(), "processes": jax.process_count(),
            "cores_busy": (_cpu_seconds() - cpu0) / seconds}


def _cpu_seconds() -> float:
    """CPU seconds (user + system, all threads) this process has used."""
    import resource

    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _xla_flags(devices: int, pinned: bool) -> str:
    return f"--xla_force_host_platform_device_count={devices}" + (f" {ONE_THREAD_FLAGS}" if pinned else "")


def _spawn(devices: int, args: list[str], cores: str | None = None) -> subprocess.Popen:
    """A worker subprocess with ``devices`` host devices; ``cores`` (``taskset`` list such as ``0`` or
    ``0,1``) pins it there with one XLA thread per device."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(XLA_FLAGS=_xla_flags(devices, cores is not None), JAX_PLATFORMS="cpu")
    pin = ["taskset", "-c", cores] if cores is not None else []
    return subprocess.Popen([*pin, sys.executable, "-m", "twingym.bench.cluster_scale", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen, timeout: float = 900) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"scale worker failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def _jax_rows(chunks: int, pinned: bool) -> list[tuple[str, dict[str, Any], int]]:
    """1 device, 2 devices of one process, 2 processes; ``pinned``: on 1, 2 and 1+1 cores."""
    args = ["--chunks", str(chunks)]
    one = _result(_spawn(1, ["--devices-total", "1", *args], "0" if pinned else None))
    two_dev = _result(_spawn(2, ["--devices-total", "2", *args], "0,1" if pinned else None))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [_spawn(1, ["--devices-total", "2", *args, "--coordinator", f"127.0.0.1:{port}", "--process-id", str(i)],
                    str(i) if pinned else None) for i in range(2)]
    results = [_result(p) for p in procs]  # wait for both; process 0 reports
    two_proc = results[0]
    cores = (", 1 core", ", 2 cores", ", 1 core each") if pinned else ("", "", "")
    return [(f"1 device, 1 process{cores[0]}", one, 1), (f"2 devices, 1 process{cores[1]}", two_dev, 2),
            (f"2 processes, 1 device each{cores[2]}", two_proc, 2)]


def _ray_jax_row(chunks: int) -> dict[str, Any]:
    """2 ``jax.distributed`` processes launched by Ray (:mod:`twingym.training.ray_jax`) on a local
    two-node cluster, one device each, each pinned to its own core (process ``i`` on core ``i``)."""
    import functools

    from twingym.bench.local_cluster import two_node_cluster
    from twingym.training.ray_jax import run_processes
    from twingym.training.ray_session import ray_session

    with two_node_cluster(nodes=2, dashboard=False) as cluster, ray_session(cluster.address):
        _wait_for_nodes(2)
        rows = run_processes(cluster.address, functools.partial(_jax_worker_on_own_core, chunks), num_processes=2,
                             env={"XLA_FLAGS": _xla_flags(1, True), "JAX_PLATFORMS": "cpu"})
    assert [r["process_count"] for r in rows] == [2, 2] and len({r["node_id"] for r in rows}) == 2, rows
    return rows[0]["result"]


def _wait_for_nodes(n: int, timeout_s: float = 60.0) -> None:
    """Until the connected Ray has ``n`` alive nodes (a node that just started may not be registered)."""
    import ray

    deadline = time.time() + timeout_s
    while sum(node["Alive"] for node in ray.nodes()) < n and time.time() < deadline:
        time.sleep(1)


def _jax_worker_on_own_core(chunks: int, process_id: int) -> dict[str, Any]:
    return _jax_worker(2, chunks, core=process_id)


def jax_records(chunks: int) -> list[Record]:
    """Unpinned (XLA's own thread pools over both cores), then pinned (a fair 1-core vs 2-core
    comparison), then 2 processes launched by Ray, pinned; efficiency against each group's 1 device."""
    out = []
    for pinned in (False, True):
        rows = _jax_rows(chunks, pinned)
        if pinned:
            rows.append(("2 processes launched by Ray on 2 nodes, 1 core each", _ray_jax_row(chunks), 2))
        base_label, base, _ = rows[0]
        out += [record(f"jax_ppo {TWIN} env steps/s: {label}", "steps/s", r["steps_per_s"], base_label,
                       base["steps_per_s"], batch=COPIES_PER_DEVICE * n, devices=r["devices"],
                       processes=r["processes"], pinned=pinned, cores_busy_process_0=round(r["cores_busy"], 2),
                       efficiency=r["steps_per_s"] / (n * base["steps_per_s"]))
                for label, r, n in rows]
    return out


def _rllib_rate(address: str, runners: int, iterations: int) -> float:
    import ray

    from twingym.agents import rllib
    from twingym.training.ray_session import ray_session

    hp = rllib.RLlibPPOParams(num_env_runners=runners, num_envs_per_env_runner=RLLIB_ENVS_PER_RUNNER,
                              rollout_fragment_length=64, minibatch_size=512, num_epochs=2,
                              num_cpus_per_env_runner=0.9, num_cpus_for_main_process=0, num_cpus_per_learner=0,
                              num_gpus_per_learner=0)
    with ray_session(address):
        _wait_for_nodes(2)
        host, pg = rllib.start_host(hp, TWIN, {}, seed=0)
        try:
            ray.get(host.train.remote())  # warm-up: runners start, everything compiles
            t0 = time.perf_counter()
            steps0 = None
            for _ in range(iterations):
                result = ray.get(host.train.remote())
                lifetime = int(result["env_runners"]["num_env_steps_sampled_lifetime"])
                steps0 = steps0 if steps0 is not None else lifetime - int(result["env_runners"]
                                                                            ["num_env_steps_sampled"])
            seconds = time.perf_counter() - t0
            return (lifetime - steps0) / seconds
        finally:
            ray.get(host.stop.remote())
            ray.kill(host)
            ray.util.remove_placement_group(pg)


def rllib_records(iterations: int) -> list[Record]:
    """One env runner, then two, on one local two-node cluster (one CPU per node, so the two runners
    sit on different nodes and the single runner on one of them)."""
    from twingym.bench.local_cluster import two_node_cluster

    with two_node_cluster(nodes=2, dashboard=False) as cluster:
        rates = {n: _rllib_rate(cluster.address, n, iterations) for n in (1, 2)}
    return [record(f"rllib_ppo {TWIN} env steps/s: {n} node(s), 1 env runner each", "steps/s", rates[n],
                   "1 node", rates[1], batch=RLLIB_ENVS_PER_RUNNER * n, nodes=n,
                   efficiency=rates[n] / (n * rates[1])) for n in (1, 2)]


def records(quick: bool = False) -> list[Record]:
    """JAX PPO at 1/2 devices and 1/2 processes, RLlib at 1/2 nodes, each with its efficiency."""
    out = jax_records(chunks=2 if quick else TIMED_CHUNKS)
    out += rllib_records(iterations=2 if quick else RLLIB_ITERATIONS)
    return out


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--devices-total", type=int, required=True)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--coordinator")
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args()
    if args.coordinator:
        from twingym.training import distributed

        distributed.initialize(distributed.from_flags(args.coordinator, args.devices_total, args.process_id))
    print(json.dumps(_jax_worker(args.devices_total, args.chunks)))


if __name__ == "__main__":
    _main()
