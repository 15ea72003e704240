"""``twingym sweep --scheduler asha`` on the two-node cluster: a trailing trial stops at ASHA's first
rung, the results table says so, and ``best.yaml`` is a config ``twingym train`` loads."""

from __future__ import annotations

import json

from twingym.cli import app
from twingym.cli.errors import run_guarded

# four chunks of 32 steps: four checkpoint reports (ASHA's rungs at reports 1, 2 and 4), then the final one
SWEEP_CFG = """\
twin: ToyTank-v0
total_steps: 128
seed: 2
agent: {backend: jax_ppo, num_envs: 2, rollout_steps: 16, num_minibatches: 1, num_epochs: 1,
        updates_per_chunk: 1, hidden_sizes: [8]}
eval: {episodes: 1}
run: {root: ROOT}
"""


def test_asha_stops_the_trailing_trial_at_its_first_rung(cluster, tmp_path, capsys):
    from twingym.training.config import load_config

    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(SWEEP_CFG.replace("ROOT", str(tmp_path / "runs")))
    # one trial after the other, in grid order: the first records every rung; the second's episodes
    # are five times longer, so its training return (a sum of rewards <= 0) is below the first's at
    # the first rung, and ASHA stops it there
    code = run_guarded(app, ["sweep", str(cfg), "--samples", "1", "--scheduler", "asha", "--max-concurrent", "1",
                             "--param", "env_params.max_steps=grid:3,15", "--cpus-per-trial", "1",
                             "--ray-address", cluster.address])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "sweep (best first)" in out and "stopped" in out
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    rows = {r["config"]["env_params.max_steps"]: r for r in json.loads((sweep_dir / "results.json").read_text())}
    assert rows[3]["status"] == "finished" and rows[3]["iterations"] == 5 and rows[3]["env_steps"] == 128
    assert rows[15]["status"] == "stopped" and rows[15]["iterations"] == 1 and rows[15]["env_steps"] == 32
    assert all(r["error"] is None for r in rows.values())
    best = load_config(str(sweep_dir / "best.yaml"))  # what `twingym train best.yaml` loads
    assert best.env_params["max_steps"] == 3 and best.run.root == str(tmp_path / "runs")
