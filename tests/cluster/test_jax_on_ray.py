"""``twingym train JAX_CONFIG --ray-address ADDR``: one ``jax.distributed`` process per node of the
two-node cluster, launched by Ray, trains the run that two processes started by hand with
``--coordinator/--num-processes/--process-id`` train (float tolerance); interrupted and resumed on
the cluster; process 0 alone writes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twingym.cli import app
from twingym.cli.errors import run_guarded

CLI = Path(__file__).with_name("cli_main.py")
CFG = """\
twin: ToyTank-v0
total_steps: 256
seed: 5
agent: {backend: jax_ppo, num_envs: 4, rollout_steps: 16, num_minibatches: 2, num_epochs: 2,
        updates_per_chunk: 2, hidden_sizes: [16]}
eval: {episodes: 1}
run: {progress: false, root: ROOT, name: NAME}
"""


def _config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(CFG.replace("ROOT", str(tmp_path / "runs")).replace("NAME", name))
    return path


def _policy(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "final" / "policy.npz") as data:
        return {k: data[k] for k in data.files}


def _by_hand(cfg: Path, env: dict[str, str]) -> list[str]:
    """Two ``twingym train --coordinator`` processes on this machine; their stderr."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, str(CLI), "train", str(cfg), "--coordinator", f"127.0.0.1:{port}",
                               "--num-processes", "2", "--process-id", str(i)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    errs = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        assert p.returncode == 0, err[-3000:]
        errs.append(err)
    return errs


def _jax_actors(cluster) -> list:
    from ray.util.state import list_actors

    return [a for a in list_actors(address=cluster.dashboard_url, detail=True, limit=1000,
                                   raise_on_missing_output=False) if a.class_name.endswith("JaxProcess")]


def test_train_with_ray_address_runs_one_jax_process_on_each_node(cluster, tmp_path, capsys):
    before = {a.actor_id for a in _jax_actors(cluster)}
    code = run_guarded(app, ["train", str(_config(tmp_path, "cli")), "--ray-address", cluster.address])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_dir = tmp_path / "runs" / "cli"
    assert "jax_ppo on Ray: 2 processes on 2 node(s)" in err and f"run directory: {run_dir}" in out
    # Ray's own record: this run's two processes ran one on each node
    actors = [a for a in _jax_actors(cluster) if a.actor_id not in before]
    assert len(actors) == 2 and {a.node_id for a in actors} == {n["node_id"] for n in cluster.alive_nodes()}
    # process 0 alone wrote: one run directory, no metrics row twice, the final policy
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["cli"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keyed = [(r["step"], tuple(sorted(set(r) - {"time"}))) for r in rows]
    assert len(set(keyed)) == len(keyed) and rows[-1]["step"] == 256  # a second writer would repeat rows
    assert json.loads((run_dir / "summary.json").read_text())["env_steps"] == 256
    assert (run_dir / "final" / "policy.npz").is_file()


@pytest.mark.slow  # two runs of two processes, the one on Ray interrupted and resumed: 130 s at load 15-20
def test_ray_launched_processes_match_processes_started_by_hand_and_resume(cluster, tmp_path, subprocess_env,
                                                                           capsys):
    from twingym.training.config import load_config
    from twingym.training.ray_jax import train_on_ray

    errs = _by_hand(_config(tmp_path, "by_hand"), subprocess_env)
    assert "process 0 of 2" in errs[0] and "process 1 of 2" in errs[1]

    # on Ray: stopped after one of two chunks (as an interruption would), then resumed from the CLI
    run_dir, summary, procs = train_on_ray(cluster.address, cfg=load_config(str(_config(tmp_path, "on_ray"))),
                                           stop_after_chunks=1)
    assert summary is None and run_dir == tmp_path / "runs" / "on_ray"
    assert [(p["process_index"], p["process_count"]) for p in procs] == [(0, 2), (1, 2)]
    assert {p["node_id"] for p in procs} == {n["node_id"] for n in cluster.alive_nodes()}
    code = run_guarded(app, ["train", "--resume", str(run_dir), "--ray-address", cluster.address])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "2 processes on 2 node(s)" in err and f"run directory: {run_dir}" in out

    metrics = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == len((tmp_path / "runs" / "by_hand" / "metrics.jsonl").read_text().splitlines())
    ray_policy, hand_policy = _policy(run_dir), _policy(tmp_path / "runs" / "by_hand")
    assert ray_policy.keys() == hand_policy.keys()
    for k in ray_policy:
        np.testing.assert_allclose(ray_policy[k], hand_policy[k], rtol=2e-4, atol=2e-5, err_msg=k)


def test_more_jax_processes_than_nodes_is_one_line(cluster, tmp_path, capsys):
    code = run_guarded(app, ["train", str(_config(tmp_path, "too_many")), "--ray-address", cluster.address,
                             "--num-processes", "3"])
    err = capsys.readouterr().err
    assert code != 0 and "3 JAX processes need one node each" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs" / "too_many").exists()


def test_one_jax_process_per_gpu_on_a_gpu_cluster_else_one_per_node():
    from twingym.training.ray_jax import ClusterLaunchError, Plan, plan

    gpu_nodes = [{"Alive": True, "Resources": {"CPU": 32.0, "GPU": 4.0}} for _ in range(2)]
    gpu_nodes.append({"Alive": False, "Resources": {"CPU": 32.0, "GPU": 4.0}})  # a dead node counts for nothing
    assert plan(gpu_nodes, None, 4.0) == Plan(8, 4.0, 1, "PACK")
    assert plan(gpu_nodes, 2, 1.0).bundles() == [{"CPU": 1.0, "GPU": 1.0}] * 2
    cpu_nodes = [{"Alive": True, "Resources": {"CPU": c}} for c in (16.0, 16.0, 0.5)]
    assert plan(cpu_nodes, None, 1.0) == Plan(2, 1.0, 0, "STRICT_SPREAD")  # the 0.5-CPU node cannot hold one
    with pytest.raises(ClusterLaunchError, match="9 JAX processes need one GPU each; the cluster has 8"):
        plan(gpu_nodes, 9, 1.0)
    with pytest.raises(ClusterLaunchError, match="2 of the cluster's 3 nodes"):
        plan(cpu_nodes, 3, 1.0)
