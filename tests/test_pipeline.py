"""The main job end to end on a tiny budget: train, export, validate, live twin, deploy, summary."""

from __future__ import annotations

import json

import pytest

from twingym.cli import app
from twingym.cli.errors import run_guarded


@pytest.mark.slow
def test_pipeline_runs_every_stage_and_keeps_its_artefacts(tmp_path, capsys):
    out = tmp_path / "pipe"
    code = run_guarded(app, ["pipeline", "--config", "assembly_cell/ppo_jax", "--out", str(out),
                             "--set", "total_steps=16384", "--set", "agent.num_envs=16",
                             "--set", "agent.rollout_steps=64", "--set", "eval.episodes=8",
                             "--episodes", "8", "--deploy-seconds", "6", "--speed", "50"])
    text = capsys.readouterr()
    record = json.loads((out / "bundle" / "validation.json").read_text())
    # a policy trained for 16k steps may or may not pass; either way every stage ran
    assert code == (0 if record["passed"] else 2), text.err
    assert (out / "train" / "summary.json").exists() and (out / "bundle" / "policy.onnx").exists()
    assert (out / "bundle" / "report.html").exists()
    summary = json.loads((out / "pipeline.json").read_text())
    assert summary["validation_passed"] == record["passed"]
    assert summary["deploy"]["steps"] > 0
    deploy_log = [json.loads(line) for line in (out / "deploy" / "deploy.jsonl").read_text().splitlines()]
    assert deploy_log[0]["shadow"] is (not record["passed"])
    assert (out / "live" / "record.jsonl").stat().st_size > 0
    assert "dashboard: http://127.0.0.1:" in text.out                  # served during the deploy stage
    assert "final_eval." not in text.out and "parts shipped per 8-h shift" in text.out   # human rows
    # the paired table of the validated policy: every scenario x every baseline, with the verdict
    assert "validated policy minus every baseline, per scenario" in text.out
    expected = {(name, base) for name, scen in record["scenarios"].items() for base in scen["controllers"]
                if base != "policy"}
    assert {(r["scenario"], r["baseline"]) for r in summary["paired"]} == expected
    assert summary["paired"] == record["paired"]
    if not record["passed"]:
        last = text.err.strip().splitlines()[-1]   # the progress bar also writes to stderr
        assert last.startswith("twingym: error: validation failed") and "shadow mode only" in last
        perf = next(g for g in record["gates"] if g["name"] == "performance")
        if not perf["passed"]:      # the line names the scenario, the baseline and the interval
            assert perf["detail"].split(";")[0] in last and "policy - " in last and "[" in last


@pytest.mark.parametrize("args, needle", [
    (["--speed", "0"], "speed factor must be a finite number > 0"),
    (["--deploy-seconds", "0"], "--deploy-seconds must be"),
    (["--episodes", "0"], "--episodes must be >= 1"),
    (["--set", "agent.lr=1"], "unknown config key 'agent.lr'"),
    (["--set", "env_params.bogus=1"], "bogus"),
])
def test_bad_options_of_any_stage_stop_before_the_first_and_leave_no_folder(args, needle, tmp_path, capsys,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output folder would be runs/pipeline-<time>/ here
    code = run_guarded(app, ["pipeline", "--config", "assembly_cell/ppo_jax", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert needle in captured.err.strip().splitlines()[-1]
    assert "1/5 train" not in captured.out  # no stage started
    assert list(tmp_path.iterdir()) == []
