"""RLlib on the real two-node Ray cluster of ``conftest.py``, and a run beside it that starts its own Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twingym.cli import app
from twingym.cli.errors import run_guarded

RLLIB_CFG = """\
twin: ToyTankDiscrete-v0
total_steps: 256
agent: {backend: rllib_ppo, num_env_runners: NUM_RUNNERS, num_envs_per_env_runner: 2,
        rollout_fragment_length: 32, minibatch_size: 64, num_epochs: 1, hidden_sizes: [8],
        num_cpus_per_env_runner: 0.9, num_cpus_for_main_process: MAIN_CPUS, num_cpus_per_learner: MAIN_CPUS}
eval: {episodes: 2}
checkpoint: {every_steps: 128}
run: {progress: false}
"""


def _config(tmp_path: Path, runners: int, **run: str) -> Path:
    # with runners, the algorithm's own process reserves no CPU and a runner 0.9: each one-CPU node takes one
    text = RLLIB_CFG.replace("NUM_RUNNERS", str(runners)).replace("MAIN_CPUS", "0" if runners else "1")
    if run:
        text = text.replace("run: {progress: false}",
                            "run: {progress: false, " + ", ".join(f"{k}: {v}" for k, v in run.items()) + "}")
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def _jobs(cluster) -> list:
    from ray.util.state import list_jobs

    return list_jobs(address=cluster.dashboard_url, raise_on_missing_output=False)


def _run_dir(root: Path) -> Path:
    (run,) = [p for p in root.iterdir() if (p / "summary.json").is_file()]
    return run


def test_without_address_a_run_starts_its_own_ray_beside_a_running_cluster(cluster, tmp_path, capsys):
    from ray._private.services import canonicalize_bootstrap_address

    # the situation users hit: Ray's own lookup (ray start's record) would join the running cluster
    assert canonicalize_bootstrap_address(None).endswith(cluster.address.split(":")[1])
    jobs_before = len(_jobs(cluster))
    cfg = _config(tmp_path, runners=0, root=str(tmp_path / "runs"))
    assert run_guarded(app, ["train", str(cfg)]) == 0, capsys.readouterr().err
    summary = json.loads((_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["ray_address"] == "local" and summary["env_steps"] >= 256
    assert len(_jobs(cluster)) == jobs_before  # no driver ever connected to the cluster


def test_rllib_env_runners_run_on_both_nodes_and_checkpoint_to_storage(cluster, tmp_path, capsys):
    from ray.util.state import list_actors

    storage = tmp_path / "shared"
    cfg = _config(tmp_path, runners=2, root=str(tmp_path / "runs"), storage=str(storage))
    code = run_guarded(app, ["train", str(cfg), "--ray-address", cluster.address])
    assert code == 0, capsys.readouterr().err
    run = _run_dir(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["ray_address"] == cluster.address
    runners = [a for a in list_actors(address=cluster.dashboard_url, detail=True, limit=1000,
                                      raise_on_missing_output=False)
               if a.class_name.endswith("EnvRunner")]
    nodes = {n["node_id"] for n in cluster.alive_nodes()}
    assert {a.node_id for a in runners} == nodes  # one runner per node (one CPU each)
    # checkpoints: metadata in the run directory, the Algorithm state under run.storage
    metas = [json.loads(p.read_text()) for p in sorted((run / "checkpoints").glob("step_*/meta.json"))]
    assert metas and all(Path(m["algo_path"]).is_relative_to(storage) for m in metas)
    assert all(Path(m["algo_path"]).is_dir() for m in metas)
    assert (run / "final" / "module").is_dir()


SWEEP_CFG = """\
twin: ToyTank-v0
env_params: {max_steps: 20}
total_steps: 256
agent: {backend: jax_ppo, num_envs: 4, rollout_steps: 16, num_minibatches: 2, num_epochs: 1,
        updates_per_chunk: 1, hidden_sizes: [8]}
eval: {episodes: 2}
run: {root: ROOT}
"""


@pytest.mark.slow  # two PBT trials (one per node), restarted at each exploit: 150 s at load 13
def test_pbt_sweep_runs_trials_on_both_nodes_and_writes_a_trainable_best_config(cluster, tmp_path, capsys):
    from ray.util.state import list_actors
    from twingym.training.config import load_config

    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(SWEEP_CFG.replace("ROOT", str(tmp_path / "runs")))
    code = run_guarded(app, ["sweep", str(cfg), "--samples", "2", "--scheduler", "pbt", "--perturbation-interval",
                             "2", "--cpus-per-trial", "1", "--ray-address", cluster.address])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "sweep (best first)" in out
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    rows = json.loads((sweep_dir / "results.json").read_text())
    assert len(rows) == 2 and all(r["error"] is None and r["env_steps"] == 256 for r in rows)
    # PBT exploited: a trial restarted from the other trial's checkpoint with perturbed values
    logs = [Path(r["run_dir"]) / "pbt_restores.jsonl" for r in rows]
    restores = [(log.parent.name, json.loads(line)) for log in logs if log.is_file()
                for line in log.read_text().splitlines()]
    assert any(own not in rec["checkpoint"] and rec["env_steps"] > 0 for own, rec in restores)
    assert {"agent.learning_rate", "agent.ent_coef"} <= set(rows[0]["config"])
    best = load_config(str(sweep_dir / "best.yaml"))  # what `twingym train best.yaml` loads
    assert best.agent.learning_rate == pytest.approx(rows[0]["config"]["agent.learning_rate"])
    assert best.agent.ent_coef == pytest.approx(rows[0]["config"]["agent.ent_coef"])
    trial_nodes = {a.node_id for a in list_actors(address=cluster.dashboard_url, detail=True, limit=1000,
                                                  raise_on_missing_output=False)
                   if "ImplicitFunc" in a.class_name or "trainable" in a.class_name}
    assert trial_nodes == {n["node_id"] for n in cluster.alive_nodes()}
