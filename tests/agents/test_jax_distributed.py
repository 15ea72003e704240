"""JAX PPO sharded over 2 devices, and over 2 processes (jax.distributed, gloo on CPU), trains the
run one device trains, to float tolerance; process 0 alone writes, and resume works across processes.

Each case runs in fresh subprocesses (the device count and jax.distributed are fixed per process).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("distributed_run.py")
CFG = """\
twin: ToyTank-v0
total_steps: 256
seed: 3
agent: {backend: jax_ppo, num_envs: 4, rollout_steps: 16, num_minibatches: 2, num_epochs: 2,
        updates_per_chunk: 2, hidden_sizes: [16]}
eval: {episodes: 2}
run: {progress: false, root: ROOT, name: NAME}
"""


def _config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(CFG.replace("ROOT", str(tmp_path / "runs")).replace("NAME", name))
    return path


def _env(devices: int, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               # the resumed half of a run compiles the same programs again: read them from this cache
               JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return env


def _run(cfg: Path, devices: int, extra: list[str] | None = None) -> subprocess.Popen:
    env = _env(devices, cfg.parent / f"jax_cache_{devices}")
    return subprocess.Popen([sys.executable, str(SCRIPT), str(cfg), *(extra or [])], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    return out


def _policy(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "final" / "policy.npz") as data:
        return {k: data[k] for k in data.files}


def _assert_same_policy(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=2e-4, atol=2e-5, err_msg=k)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory) -> dict[str, np.ndarray]:
    tmp = tmp_path_factory.mktemp("one")
    out = _finish(_run(_config(tmp, "one"), devices=1))
    assert "devices=1 processes=1" in out
    return _policy(tmp / "runs" / "one")


def test_two_devices_match_one_device(one_device, tmp_path):
    out = _finish(_run(_config(tmp_path, "two"), devices=2))
    assert "devices=2 processes=1" in out
    _assert_same_policy(_policy(tmp_path / "runs" / "two"), one_device)


@pytest.mark.slow  # two processes at once: 130 s at load 16 on the 2-core machine
def test_two_processes_match_one_process_and_only_process_0_writes(one_device, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _config(tmp_path, "mp")
    procs = [_run(cfg, devices=1, extra=["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                                          "--process-id", str(i)]) for i in range(2)]
    outs = [_finish(p) for p in procs]
    assert all("devices=2 processes=2" in o for o in outs)
    assert "run_dir=" in outs[0] and "run_dir=" not in outs[1]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["mp"]  # one run directory, written once
    _assert_same_policy(_policy(tmp_path / "runs" / "mp"), one_device)
