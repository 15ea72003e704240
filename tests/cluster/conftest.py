"""One real two-node Ray cluster for the whole area (``twingym.bench.local_cluster``): started once
(about 20 s), stopped by process id at the end, also on failure.

Its nodes (and so every Ray worker and JAX process on them) share one JAX compilation cache in the
cluster's temp folder with the reference subprocesses the tests start (the ``subprocess_env`` fixture), so
a program compiled once is read back by the others.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from twingym.bench.local_cluster import TwoNodeCluster, two_node_cluster

_CACHE_ENV = ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")


@pytest.fixture(scope="session")
def jax_cache() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tgjaxcache") as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def cluster(jax_cache: Path) -> Iterator[TwoNodeCluster]:
    from ray._private.utils import get_dashboard_dependency_error

    missing = get_dashboard_dependency_error()
    if missing:  # the state API needs the dashboard (pyproject asks for ray[default])
        pytest.skip(f"ray[default] is not installed ({missing})")
    import ray

    saved = {k: os.environ.get(k) for k in _CACHE_ENV}
    os.environ.update(dict(zip(_CACHE_ENV, (str(jax_cache), "0"), strict=True)))  # inherited by the nodes
    try:
        with two_node_cluster() as c:
            try:
                yield c
            finally:
                ray.shutdown()  # this process's own driver, before the cluster it joined goes away
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def subprocess_env(jax_cache: Path) -> dict[str, str]:
    """Environment of a JAX subprocess: one CPU device, the shared compilation cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "RAY_ADDRESS")}
    env.update(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(jax_cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return env
