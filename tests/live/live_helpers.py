"""Fixtures of the live-twin and deploy tests: a validated ToyTank bundle, free ports, servers.

Every server started here is stopped by its fixture, every test is bounded in time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from twingym.agents.policy_spec import DenseLayer, PolicySpec
from twingym.live import ServerConfig, ServerThread, free_port, start_server_thread
from twingym.policies import bundle as bundle_mod
from twingym.policies.export import export_spec

TESTS_ENVS = str(Path(__file__).resolve().parents[1] / "envs")


def tank_spec(gain: float = 2.0) -> PolicySpec:
    """A ToyTank controller as a PolicySpec: valve = clip(0.19 + 0.19*ref + gain*(ref - level), 0, 1).

    The feed-forward term approximates the valve that holds the tank at the reference (inflow
    0.08*v equals outflow 0.03*sqrt(h)); normalisation is non-trivial so the export must fold it.
    """
    mean = np.array([1.0, 1.0, 0.5], np.float32)
    var = np.array([0.25, 0.25, 0.25], np.float32)
    std = np.sqrt(var + 1e-8)
    w = np.array([[-gain], [0.19 + gain], [0.0]], np.float32)
    return PolicySpec(obs_dim=3, obs_mean=mean, obs_var=var,
                      layers=[DenseLayer((w * std[:, None]).astype(np.float32),
                                         np.array([0.19 + float(w[:, 0] @ mean)], np.float32))],
                      action_transform="clip", action_low=np.zeros(1, np.float32),
                      action_high=np.ones(1, np.float32), backend="synthetic")


def make_bundle(path: Path, validated: bool = True, passed: bool = True) -> Path:
    """Export :func:`tank_spec` for ToyTank-v0 and (optionally) seal a validation record into it.

    The record is a test fixture (gate ``fixture``), bound to the bundle by the export engineer's
    ``write_validation``; the real validation suite is exercised in tests/policies.
    """
    out = export_spec(tank_spec(), path, twin_id="ToyTank-v0", backend="synthetic", run_id="test")
    if validated:
        b = bundle_mod.load_bundle(out)
        record = bundle_mod.ValidationRecord(suite={"name": "test-fixture"}, passed=passed, gates=[
            {"name": "fixture", "value": 1.0, "threshold": 1.0, "passed": passed}])
        bundle_mod.write_validation(b, record, {})
    return out


@pytest.fixture(scope="session")
def tank_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "tank")


@pytest.fixture
def port() -> int:
    return free_port()


def start_thread(folder: Path, **options) -> ServerThread:
    """A ToyTank (or ``twin_id=``) server thread on a free loopback port, recording into ``folder``."""
    options.setdefault("port", free_port())
    options.setdefault("record", str(folder / f"record-{options['port']}.jsonl"))
    config = ServerConfig(options.pop("twin_id", "ToyTank-v0"), **options)
    return start_server_thread(config, timeout=120)


@pytest.fixture
def serve_thread(tmp_path: Path) -> Iterator:
    """Factory: start a server thread with options; all are stopped at teardown."""
    handles: list[ServerThread] = []

    def start(**options) -> ServerThread:
        handles.append(start_thread(tmp_path, **options))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One ToyTank server for a whole test module (tests must leave it in remote mode)."""
    handle = start_thread(tmp_path_factory.mktemp("shared"), speed=25.0)
    yield handle
    handle.stop()


def python_path() -> list[str]:
    return [TESTS_ENVS, *sys.path]
