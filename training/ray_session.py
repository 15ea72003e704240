"""Which Ray a run uses: the cluster it was pointed at, or a private local instance it owns.

- An address (``--ray-address`` on the CLI, which sets ``RAY_ADDRESS``; or ``RAY_ADDRESS`` itself):
  ``auto`` (the cluster started with ``ray start`` on this machine) or ``HOST:PORT`` joins that cluster,
  asks it for no resources and leaves it running afterwards.
- No address: a fresh local Ray with ``num_cpus`` CPUs and no dashboard is started
  (``ray.init(address="local")``), even when another cluster runs on the machine; Ray's own lookup of
  ``/tmp/ray/ray_current_cluster`` is bypassed, so a run never joins a cluster silently. It is shut
  down at the end.
- Every worker process of the session (env runners, Tune trials, JAX hosts) first runs
  :func:`prepare_worker`: it appends the caller's ``sys.path`` and registers the twins the caller
  registered (a researcher's own twin, the test twins), so those twins build on every node.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ADDRESS_ENV = "RAY_ADDRESS"


def requested_address(address: str | None = None) -> str | None:
    """The cluster to join: ``address``, else ``RAY_ADDRESS``, else None (start a local Ray)."""
    address = (address or os.environ.get(ADDRESS_ENV) or "").strip()
    return address or None


def prepare_worker(paths: list[str], registrations: list[tuple[str, str]]) -> None:
    """Worker start-up hook: extend ``sys.path`` and register missing twins (id, entry point)."""
    for p in paths:
        if p not in sys.path:
            sys.path.append(p)
    import twingym.envs as twin_envs

    for twin_id, entry in registrations:
        if twin_id not in twin_envs.registered():
            twin_envs.register(twin_id, entry)


def worker_runtime_env() -> dict[str, Any]:
    """A Ray ``runtime_env`` whose workers run :func:`prepare_worker` with this process's state."""
    from twingym.envs import registered

    regs = [(spec.id, spec.entry_point) for spec in registered().values()]
    paths = list(sys.path)

    def setup_twingym_worker() -> None:
        prepare_worker(paths, regs)

    return {"worker_process_setup_hook": setup_twingym_worker}


@contextlib.contextmanager
def address_env(address: str | None) -> Iterator[None]:
    """``RAY_ADDRESS=address`` for the block (nothing when ``address`` is empty), restored afterwards."""
    if not address:
        yield
        return
    saved = os.environ.get(ADDRESS_ENV)
    os.environ[ADDRESS_ENV] = address
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ADDRESS_ENV, None)
        else:
            os.environ[ADDRESS_ENV] = saved


@dataclass(frozen=True)
class RaySession:
    """The Ray this process is connected to. ``address`` is None for a private local instance."""

    address: str | None
    owned: bool  # started (and shut down) by this session

    @property
    def label(self) -> str:
        return self.address or "local"


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int = 2, num_gpus: int | None = None,
                object_store_mb: int | None = None) -> Iterator[RaySession]:
    """Connect for the duration of the block (see the module docstring).

    ``num_cpus``/``num_gpus``/``object_store_mb`` size the local instance only; a joined cluster keeps
    its own resources. An already initialised Ray (a caller's own session) is used as it is.
    """
    import ray

    if ray.is_initialized():
        yield RaySession(address=requested_address(address), owned=False)
        return
    target = requested_address(address)
    common = {"log_to_driver": False, "runtime_env": worker_runtime_env()}
    if target:
        ray.init(address=target, **common)
    else:
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 configure_logging=False,
                 object_store_memory=None if object_store_mb is None else object_store_mb * 2**20, **common)
    try:
        yield RaySession(address=target, owned=True)
    finally:
        ray.shutdown()


def cluster_gpus() -> float:
    """GPUs of the connected cluster (0.0 when it has none)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))
