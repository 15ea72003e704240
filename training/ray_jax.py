"""JAX PPO across a Ray cluster: one ``jax.distributed`` process per node (or per GPU), each a Ray actor.

``twingym train CONFIG --ray-address ADDR`` with a ``jax_ppo`` config (and ``--resume RUN
--ray-address ADDR``) runs here. The driver joins the cluster and reserves one placement group of
``N`` bundles:

- a cluster with GPUs: one GPU (and ``cpus_per_process`` CPUs) per bundle, ``N`` = the cluster's GPUs,
  packed (several processes per multi-GPU node; Ray gives each its own ``CUDA_VISIBLE_DEVICES``);
- a CPU cluster: ``cpus_per_process`` CPUs per bundle on distinct nodes (``STRICT_SPREAD``), ``N`` =
  the alive nodes that can hold one.

``num_processes`` overrides ``N``. One :class:`JaxProcess` actor starts in each bundle; actor 0 picks a
free port on its node, and ``IP:PORT`` is the coordinator every actor hands to
``jax.distributed.initialize`` with its rank (bundle ``i`` = process ``i``), after splitting its CPU
into one XLA device per core as the CLI does (:mod:`twingym.host_devices`). Each then trains the same
run, exactly as processes started with ``--coordinator/--num-processes/--process-id`` do
(:mod:`twingym.training.distributed`): process 0 alone writes the run directory, so ``run.root`` must
be on a file system every node reaches; a relative ``run.root`` (or ``--resume`` path) is taken
relative to the driver's working directory. The driver waits for all of them; when one fails, the
others (blocked in a collective) are killed and the failure is raised in one line. The actors and the
placement group are always removed at the end; the cluster stays up. :func:`run_processes` runs any
function that way (the scale benchmark times PPO chunks with it); :func:`train_on_ray` runs a training.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twingym.training.config import TrainConfig

#: seconds to wait for the placement group (nodes may still be joining, or an autoscaler adding them).
PLACEMENT_TIMEOUT_S = 120.0


class ClusterLaunchError(RuntimeError):
    """The cluster cannot hold the processes asked for, or one of them failed (one line)."""


@dataclass(frozen=True)
class Plan:
    """``num_processes`` actors, each with ``cpus`` CPUs and ``gpus`` (0 or 1) GPUs; Ray ``strategy``."""

    num_processes: int
    cpus: float
    gpus: int
    strategy: str

    def bundles(self) -> list[dict[str, float]]:
        return [{"CPU": self.cpus, **({"GPU": float(self.gpus)} if self.gpus else {})}
                for _ in range(self.num_processes)]


def plan(nodes: list[dict[str, Any]], num_processes: int | None, cpus_per_process: float) -> Plan:
    """The layout for ``nodes`` (``ray.nodes()`` rows); :class:`ClusterLaunchError` when it cannot fit."""
    alive = [n for n in nodes if n.get("Alive")]
    gpus = int(sum(n["Resources"].get("GPU", 0.0) for n in alive))
    if gpus:
        n = num_processes or gpus
        if n > gpus:
            raise ClusterLaunchError(f"{n} JAX processes need one GPU each; the cluster has {gpus}")
        return Plan(n, cpus_per_process, 1, "PACK")
    fit = [x for x in alive if x["Resources"].get("CPU", 0.0) >= cpus_per_process]
    n = num_processes or len(fit)
    if n < 1 or n > len(fit):
        raise ClusterLaunchError(f"{n} JAX processes need one node each with {cpus_per_process:g} free CPUs; "
                                 f"{len(fit)} of the cluster's {len(alive)} nodes have them")
    return Plan(n, cpus_per_process, 0, "STRICT_SPREAD")


def _actor_class():
    import ray

    @ray.remote
    class JaxProcess:
        """One ``jax.distributed`` process (a fresh worker: JAX has computed nothing yet)."""

        def coordinator_address(self) -> str:
            """``IP:PORT`` of a free port on this actor's node (called on actor 0 only)."""
            import socket

            ip = ray.util.get_node_ip_address()
            with socket.socket() as s:
                s.bind((ip, 0))
                return f"{ip}:{s.getsockname()[1]}"

        def run(self, coordinator: str, num_processes: int, process_id: int,
                body: Callable[[int], Any]) -> dict[str, Any]:
            from twingym.training import distributed

            from twingym.host_devices import use_every_core

            use_every_core()  # as the CLI does: one XLA CPU device per core (GPU backends unaffected)
            t0 = time.perf_counter()
            distributed.initialize(distributed.ProcessLayout(coordinator, num_processes, process_id))
            t1 = time.perf_counter()
            result = body(process_id)
            import jax

            return {"process_index": jax.process_index(), "process_count": jax.process_count(),
                    "device_count": jax.device_count(), "node_id": ray.get_runtime_context().get_node_id(),
                    "seconds": {"initialize": t1 - t0, "body": time.perf_counter() - t1}, "result": result}

    return JaxProcess


def run_processes(address: str, body: Callable[[int], Any], num_processes: int | None = None,
                  cpus_per_process: float = 1.0, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``body(process_id)`` in each of the ``jax.distributed`` processes Ray starts at ``address``.

    ``body`` (pickled to every process) runs after ``jax.distributed.initialize``; ``env`` is added to
    the processes' environment. Returns one row per process in rank order: ``process_index``,
    ``process_count``, ``device_count``, ``node_id``, ``seconds`` (``initialize``, ``body``) and
    ``result`` (what ``body`` returned).
    """
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
    from twingym.training.ray_session import ray_session

    with ray_session(address):
        layout = plan(ray.nodes(), num_processes, cpus_per_process)
        pg = placement_group(layout.bundles(), strategy=layout.strategy)
        actors: list[Any] = []
        try:
            ready, _ = ray.wait([pg.ready()], timeout=PLACEMENT_TIMEOUT_S)
            if not ready:
                raise ClusterLaunchError(f"the cluster did not place {layout.num_processes} JAX processes "
                                         f"({layout.bundles()[0]} each, {layout.strategy}) within "
                                         f"{PLACEMENT_TIMEOUT_S:.0f} s; it has {ray.cluster_resources()}")
            cls = _actor_class()
            extra = {"runtime_env": {"env_vars": dict(env)}} if env else {}
            actors = [cls.options(num_cpus=layout.cpus, num_gpus=layout.gpus, **extra,
                                  scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i)
                                  ).remote() for i in range(layout.num_processes)]
            coordinator = ray.get(actors[0].coordinator_address.remote())
            return _wait_all([a.run.remote(coordinator, layout.num_processes, i, body)
                              for i, a in enumerate(actors)])
        finally:
            for a in actors:
                ray.kill(a)
            remove_placement_group(pg)


def _absolute_root(cfg: TrainConfig) -> TrainConfig:
    root = str(Path(cfg.run.root).expanduser().resolve())
    return cfg.model_copy(update={"run": cfg.run.model_copy(update={"root": root})})


def _train_body(cfg: dict[str, Any] | None, resume_dir: str | None, stop_after_chunks: int | None,
                process_id: int) -> dict[str, Any]:
    """In each process: train (or resume) the run; ``run_dir`` and ``summary`` (process 0's is the run's)."""
    from twingym.training import driver
    from twingym.training.config import parse_config

    kwargs = {} if stop_after_chunks is None else {"stop_after_chunks": stop_after_chunks}
    if resume_dir is not None:
        run_dir, summary = driver.resume(resume_dir, **kwargs)
    else:
        run_dir, summary = driver.train(parse_config(cfg), **kwargs)
    return {"run_dir": str(run_dir), "summary": summary}


def train_on_ray(address: str, cfg: TrainConfig | None = None, resume_dir: str | Path | None = None,
                 num_processes: int | None = None, cpus_per_process: float = 1.0,
                 stop_after_chunks: int | None = None) -> tuple[Path, dict[str, Any] | None, list[dict[str, Any]]]:
    """Train ``cfg`` (or resume ``resume_dir``) with JAX processes on the Ray cluster at ``address``.

    Returns ``(run_dir, summary, processes)``: process 0's run directory and summary (None when
    ``stop_after_chunks`` ended it early) and the rows of :func:`run_processes` without ``result``.
    """
    from twingym.training import driver
    from twingym.training import run_dir as rd

    if (cfg is None) == (resume_dir is None):
        raise ValueError("give a config or a run directory to resume")
    if resume_dir is not None:
        resume_dir = str(rd.require_run_dir(Path(resume_dir).expanduser().resolve()))
        cfg_data = None
        driver.check_twin(driver.run_config(resume_dir))
    else:
        cfg = _absolute_root(cfg)  # type: ignore[arg-type]
        driver.check_twin(cfg)
        rd.check_root(cfg.run.root)
        cfg_data = cfg.model_dump(mode="json")
    rows = run_processes(address, functools.partial(_train_body, cfg_data, resume_dir, stop_after_chunks),
                         num_processes, cpus_per_process)
    main = rows[0].pop("result")
    for r in rows[1:]:
        r.pop("result")
    return Path(main["run_dir"]), main["summary"], rows


def _wait_all(refs: list[Any]) -> list[dict[str, Any]]:
    """Every result of ``refs`` (in order); the first failure raises at once (one line)."""
    import ray

    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1, timeout=5.0)
        for ref in done:
            try:
                ray.get(ref)
            except ray.exceptions.RayError as err:
                rank = refs.index(ref)
                raise ClusterLaunchError(f"JAX process {rank} failed: {_cause(err)}") from None
        if not done:
            time.sleep(0.1)
    return ray.get(refs)


def _cause(err: Exception) -> str:
    """The original exception of a Ray task error, as ``Type: message`` (first line)."""
    cause = getattr(err, "cause", None) or err
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"
