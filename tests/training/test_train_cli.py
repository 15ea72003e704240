"""Every backend end to end through ``twingym train`` / ``evaluate`` on a tiny budget, the JAX PPO
bit-for-bit resume, and the exported PolicySpec against each backend's own deterministic policy."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from twingym.agents import deterministic_actions, policy_spec_from_run
from twingym.envs import make
from twingym.training import driver
from twingym.training.config import load_config

from twingym.cli import app
from twingym.cli.errors import run_guarded

JAX_CFG = """\
twin: ToyTank-v0
total_steps: 768
seed: 3
agent: {backend: jax_ppo, num_envs: 4, rollout_steps: 32, num_minibatches: 2, num_epochs: 2,
        updates_per_chunk: 2, hidden_sizes: [16, 16]}
eval: {episodes: 8, every_steps: 512, during_episodes: 8}
checkpoint: {keep: 2}
run: {progress: false}
"""


def _obs(twin: str, n: int = 32) -> np.ndarray:
    env, params = make(twin)
    keys = jax.random.split(jax.random.PRNGKey(11), n)
    return np.asarray(jax.vmap(env.observation_space(params).sample)(keys))


def _check_spec(run: Path, twin: str) -> None:
    obs = _obs(twin)
    spec = policy_spec_from_run(run)
    own = deterministic_actions(run, obs)
    np.testing.assert_allclose(spec.act(obs).reshape(own.shape), own, atol=1e-5)


def _train(tmp_path: Path, text: str, name: str, *extra: str) -> Path:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(text)
    code = run_guarded(app, ["train", str(cfg), "--set", f"run.root={tmp_path}", "--set", f"run.name={name}",
                             *extra])
    assert code == 0
    return tmp_path / name


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("jax"), JAX_CFG, "full")


def test_jax_run_directory_layout(jax_run, capsys):
    assert (jax_run / "config.yaml").is_file()
    assert load_config(str(jax_run / "config.yaml")).run.name == "full"
    assert list(jax_run.glob("events.out.tfevents.*"))
    lines = [json.loads(x) for x in (jax_run / "metrics.jsonl").read_text().splitlines()]
    train_lines = [x for x in lines if "loss/policy" in x]
    assert [x["step"] for x in train_lines] == [128 * i for i in range(1, 7)]
    assert any("eval/return" in x and "eval/reference_return" in x for x in lines)
    assert all(np.isfinite(x["loss/value"]) for x in train_lines)
    ckpts = sorted((jax_run / "checkpoints").iterdir())
    assert [c.name for c in ckpts] == ["step_000000000512", "step_000000000768"]  # keep: 2
    assert (jax_run / "final" / "policy.npz").is_file()
    summary = json.loads((jax_run / "summary.json").read_text())
    assert summary["backend"] == "jax_ppo" and summary["twin"] == "ToyTank-v0" and summary["env_steps"] == 768
    final = summary["final_eval"]
    assert final["reference"] == "p_control" and final["policy"]["episodes"] == 8
    assert final["difference"]["ci_low"] <= final["difference"]["mean"] <= final["difference"]["ci_high"]
    (row,) = final["paired"]        # policy minus every baseline, with the verdict
    assert row["scenario"] == "final eval" and row["baseline"] == "p_control" and row["n"] == 8
    assert (row["mean"], row["low"], row["high"]) == pytest.approx(
        (final["difference"]["mean"], final["difference"]["ci_low"], final["difference"]["ci_high"]))
    assert row["verdict"] in ("beats", "loses", "tie") and row["oracle"] is False


def test_tensorboard_events_hold_the_logged_scalars(jax_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(jax_run))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("train/episode_return", "loss/policy", "loss/value", "loss/entropy", "train/learning_rate",
                "perf/env_steps_per_s", "eval/return", "eval/reference_return"):
        assert tag in tags, tag
    assert [e.step for e in acc.Scalars("loss/policy")] == [128 * i for i in range(1, 7)]


def test_jax_policy_spec_matches_jax_policy(jax_run):
    _check_spec(jax_run, "ToyTank-v0")


def test_evaluate_run_and_baseline_print_every_controller(jax_run, capsys):
    assert run_guarded(app, ["evaluate", str(jax_run), "--episodes", "8"]) == 0
    out = capsys.readouterr().out
    assert "policy" in out and "p_control (reference)" in out and "95% interval" in out
    assert run_guarded(app, ["evaluate", "baseline:p_control", "--twin", "ToyTank-v0", "--episodes", "8"]) == 0
    assert "p_control" in capsys.readouterr().out


def test_evaluate_prints_the_paired_table_with_oracles_marked(jax_run, tmp_path, capsys, monkeypatch):
    """policy - every baseline per scenario (mean, 95 % interval, n, verdict), equal to a paired
    Student-t interval computed here from an independent evaluation; an oracle baseline is marked."""
    from scipy import stats
    from twingym.envs.core import Baseline
    from twingym.training.cli_support import run_policy_controller
    from twingym.training.evaluate import evaluate_controllers

    env, params = make("ToyTank-v0")
    toy = type(env)
    honest = toy.baselines

    def with_oracle(self):     # a controller that reads the level without sensor noise stands in
        def act(carry, obs, p):
            return jax.numpy.clip(0.5 + 4.0 * (obs[1] - obs[0]), 0.0, 1.0)[None], carry
        return {**honest(self), "p_oracle": Baseline("p_oracle", lambda p: (), act)}

    monkeypatch.setattr(toy, "baselines", with_oracle)
    monkeypatch.setattr(toy, "oracle_baselines", ("p_oracle",))
    out_json = tmp_path / "eval" / "paired.json"
    assert run_guarded(app, ["evaluate", str(jax_run), "--episodes", "8", "--seed", "5", "--scenario", "all",
                             "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "policy minus every baseline, paired (8 episodes, seed 5)" in out
    for column in ("policy - baseline", "95 % interval", "verdict"):
        assert column in out
    rows = json.loads(out_json.read_text())["paired"]
    assert [(r["scenario"], r["baseline"], r["oracle"]) for r in rows] == \
        [("nominal", "p_control", False), ("nominal", "p_oracle", True)]
    table_lines = [line for line in out.splitlines() if line.count("│") >= 6 and "nominal" in line]
    assert len(table_lines) == 2 and "p_oracle (oracle)" in table_lines[1]
    assert "gap to oracle" in table_lines[1] and "(oracle)" not in table_lines[0]
    # the row is the paired Student-t interval of an independent evaluation on the same keys
    res = evaluate_controllers(env, params, {"policy": run_policy_controller(jax_run),
                                             **with_oracle(env)}, 8, 5)
    d = res["policy"].returns - res["p_control"].returns
    half = stats.t.ppf(0.975, 7) * d.std(ddof=1) / np.sqrt(8)
    assert (rows[0]["mean"], rows[0]["low"], rows[0]["high"]) == pytest.approx((d.mean(), d.mean() - half,
                                                                                d.mean() + half), rel=1e-6)
    assert rows[0]["n"] == 8 and f"{rows[0]['mean']:+.4g}" in table_lines[0]
    assert rows[0]["verdict"] in table_lines[0]
    assert run_guarded(app, ["evaluate", str(jax_run), "--episodes", "2", "--scenario", "nope"]) == 2
    assert "no scenario 'nope'; scenarios: nominal, all" in capsys.readouterr().err


def test_jax_resume_equals_uninterrupted_run_bit_for_bit(jax_run, tmp_path):
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(JAX_CFG)
    cfg = load_config(str(cfg_path), [f"run.root={tmp_path}", "run.name=cut"])
    run, summary = driver.train(cfg, stop_after_chunks=1)
    assert summary is None and not (run / "final").exists()
    assert run_guarded(app, ["train", "--resume", str(run)]) == 0
    for name in ("step_000000000768",):
        with np.load(jax_run / "checkpoints" / name / "state.npz") as a, \
                np.load(run / "checkpoints" / name / "state.npz") as b:
            assert a.files == b.files
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k])
    with np.load(jax_run / "final" / "policy.npz") as a, np.load(run / "final" / "policy.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()
             if "loss/policy" in x]
    assert steps == [128 * i for i in range(1, 7)]  # each update logged once across the two sessions


SB3_PPO_CFG = """\
twin: ToyTank-v0
total_steps: 512
agent: {backend: sb3_ppo, num_envs: 4, n_steps: 32, batch_size: 64, n_epochs: 2, hidden_sizes: [16, 16]}
eval: {episodes: 4}
run: {progress: false}
"""

SB3_SAC_CFG = """\
twin: ToyTank-v0
total_steps: 192
agent: {backend: sb3_sac, num_envs: 4, learning_starts: 64, batch_size: 32, hidden_sizes: [16, 16],
        gradient_steps: 1, train_freq: 4}
eval: {episodes: 4}
run: {progress: false}
"""


def test_sb3_ppo_trains_resumes_and_exports(tmp_path):
    cfg = load_config(str(_write(tmp_path, SB3_PPO_CFG)), [f"run.root={tmp_path}", "run.name=ppo"])
    run, summary = driver.train(cfg, stop_after_chunks=1)
    assert summary is None and (run / "checkpoints").is_dir()
    assert run_guarded(app, ["train", "--resume", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["backend"] == "sb3_ppo" and summary["env_steps"] >= 512
    for f in ("model.zip", "vecnormalize.pkl", "obs_stats.npz"):
        assert (run / "final" / f).is_file()
    stats = np.load(run / "final" / "obs_stats.npz")
    assert not np.allclose(stats["mean"], 0.0)  # real VecNormalize statistics were saved
    _check_spec(run, "ToyTank-v0")


def test_sb3_sac_trains_and_exports_tanh_head(tmp_path):
    run = _train(tmp_path, SB3_SAC_CFG, "sac")
    assert policy_spec_from_run(run).action_transform == "tanh_scale"
    _check_spec(run, "ToyTank-v0")


RLLIB_CFG = """\
twin: ToyTankDiscrete-v0
total_steps: 256
agent: {backend: rllib_ppo, num_env_runners: 0, num_envs_per_env_runner: 4, rollout_fragment_length: 32,
        minibatch_size: 64, num_epochs: 1, hidden_sizes: [16, 16]}
eval: {episodes: 4}
run: {progress: false}
"""


def test_rllib_ppo_trains_and_exports_multi_discrete(tmp_path):  # about 20 s: local Ray, 256 steps
    run = _train(tmp_path, RLLIB_CFG, "rllib")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["backend"] == "rllib_ppo" and summary["env_steps"] >= 256
    assert len(list((run / "checkpoints").iterdir())) >= 1
    spec = policy_spec_from_run(run)
    assert spec.action_transform == "multi_argmax" and spec.nvec == (3, 5)
    _check_spec(run, "ToyTankDiscrete-v0")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


SWEEP_CFG = """\
twin: ToyTank-v0
total_steps: 256
agent: {backend: jax_ppo, num_envs: 4, rollout_steps: 32, num_minibatches: 2, num_epochs: 1,
        updates_per_chunk: 2, hidden_sizes: [8]}
eval: {episodes: 4}
"""


@pytest.mark.slow
def test_sweep_runs_trials_as_run_directories(tmp_path, capsys):
    cfg = _write(tmp_path, SWEEP_CFG)
    code = run_guarded(app, ["sweep", str(cfg), "--samples", "1", "--set", f"run.root={tmp_path}",
                             "--param", "agent.learning_rate=choice:0.001,0.0001", "--max-concurrent", "1"])
    assert code == 0
    sweep = next(tmp_path.glob("sweep_ToyTank-v0_jax_ppo_*"))
    trials = [p for p in sweep.iterdir() if (p / "summary.json").is_file()]
    assert len(trials) == 1
    rates = sorted(load_config(str(t / "config.yaml")).agent.learning_rate for t in trials)
    assert all(r in (0.001, 0.0001) for r in rates)
    assert "sweep (best first)" in capsys.readouterr().out


IEA_CFG = """\
twin: WindTurbine-v0
env_params: {turbine: iea_15MW, action_mode: residual}
total_steps: 512
seed: 0
agent: {backend: jax_ppo, num_envs: 4, rollout_steps: 64, num_minibatches: 2, num_epochs: 2,
        updates_per_chunk: 1, hidden_sizes: [16, 16], gamma: 0.95}
eval: {episodes: 4, every_steps: 1024, during_episodes: 4}
run: {progress: false}
"""


@pytest.mark.slow   # about 150 s at load 15: three compilations of the turbine twin's scans
def test_jax_ppo_trains_on_the_iea_15mw_turbine(tmp_path):
    """The IEA 15-MW turbine (DISCON's ROSCO controller as the reference) through the CLI."""
    run = _train(tmp_path, IEA_CFG, "iea")
    assert load_config(str(run / "config.yaml")).env_params["turbine"] == "iea_15MW"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train_lines = [x for x in lines if "loss/policy" in x]
    assert [x["step"] for x in train_lines] == [256, 512]
    assert all(np.isfinite(x["loss/value"]) and np.isfinite(x["loss/policy"]) for x in train_lines)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["twin"] == "WindTurbine-v0" and summary["env_steps"] == 512
    final = summary["final_eval"]
    assert final["reference"] == "reference_controller" and final["policy"]["episodes"] == 4
    assert np.isfinite(final["difference"]["mean"])
