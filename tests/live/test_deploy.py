"""Deploy a validated bundle to a live twin on loopback: control, shadow, faults, restarts, refusals."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from live_helpers import make_bundle, tank_spec
from twingym.live import Fault, ServerConfig, free_port, read_record, spawn_server, start_server_thread
from twingym.policies.deploy import DeployConfig, DeployError, Deployment, deploy, read_log

REPO = Path(__file__).resolve().parents[2]


def steps_of(path: Path) -> list[dict]:
    return [r for r in read_record(path) if r["event"] == "step"]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def log_events(path: Path) -> list[dict]:
    return list(read_log(path)) if path.exists() else []


# ---- end to end ---------------------------------------------------------------------------------------
def test_shadow_mode_computes_and_logs_but_writes_nothing(shared_server, tank_bundle, tmp_path):
    log = tmp_path / "shadow.jsonl"
    summary = deploy(DeployConfig(str(tank_bundle), shared_server.endpoint, shadow=True, steps=12,
                                  log=str(log)), handle_signals=False)
    assert summary.shadow and summary.steps >= 8 and summary.fallbacks == 0
    events = log_events(log)
    steps = [e for e in events if e["event"] == "step"]
    assert steps and all(e["wrote"] is None for e in steps)
    assert not any(e["event"] == "handover" for e in events)
    # the logged policy action is the policy's (independent numpy reference of the same spec)
    spec = tank_spec()
    for e in steps:
        np.testing.assert_allclose(e["policy_action"], spec.act(np.asarray(e["observation"]))[0], atol=1e-5)
        assert e["twin_applied"] is not None and e["twin_mode"] == "remote"
    time.sleep(0.2)
    shadow_steps = {e["step"] for e in steps}
    record = [r for r in steps_of(shared_server.record_path) if r["step"] in shadow_steps]
    assert record and all(r["source"] != ["client"] for r in record)


def test_serve_and_deploy_end_to_end(shared_server, tank_bundle, tmp_path):
    log = tmp_path / "deploy.jsonl"
    summary = deploy(DeployConfig(str(tank_bundle), shared_server.endpoint, steps=40, log=str(log)),
                     handle_signals=False)
    assert summary.stopped_by == "steps" and summary.fallbacks == 0 and summary.reconnects == 0
    assert summary.steps + summary.missed_steps >= 40 and summary.policy_steps == summary.steps
    assert summary.missed_steps <= 8
    assert np.isfinite(summary.reward_sum) and summary.log_path == str(log)
    events = log_events(log)
    assert [e["event"] for e in events][:2] == ["start", "connected"]
    assert [e["event"] for e in events][-2:] == ["handover", "stop"]
    steps = [e for e in events if e["event"] == "step"]
    spec = tank_spec()
    for e in steps:
        expected = spec.act(np.asarray(e["observation"]))[0]
        np.testing.assert_allclose(e["policy_action"], expected, atol=1e-5)
        assert 0.0 <= e["safe_action"][0] <= 1.0 and e["wrote"] == "setpoints"
    time.sleep(0.3)
    record = {r["step"]: r for r in steps_of(shared_server.record_path)}
    # every setpoint the twin applied from a client is one the deploy runtime wrote
    written = {round(e["safe_action"][0], 9) for e in steps}
    controlled = [r for r in record.values() if r["source"] == ["client"] and r["step"] > steps[0]["step"]]
    assert len(controlled) >= 20
    assert all(round(r["action"][0], 9) in written for r in controlled)
    # the policy's observation is the twin's own published observation at that step
    for e in steps[:10]:
        np.testing.assert_allclose(e["observation"], record[e["step"]]["obs"], rtol=1e-6)
    # handed back to the twin's local baseline when it stopped
    last = max(record)
    wait_for(lambda: any(r["mode"] == "local" for r in steps_of(shared_server.record_path)
                         if r["step"] > last - 2), 5, "local mode after deploy")


def test_a_bundle_for_another_twin_is_refused_without_touching_the_twin(shared_server, tmp_path):
    from twingym.agents.policy_spec import DenseLayer, PolicySpec
    from twingym.policies import bundle as bundle_mod
    from twingym.policies.export import export_spec

    spec = PolicySpec(obs_dim=3, obs_mean=np.zeros(3, np.float32), obs_var=np.ones(3, np.float32),
                      layers=[DenseLayer(np.zeros((3, 8), np.float32), np.zeros(8, np.float32))],
                      action_transform="multi_argmax", nvec=(3, 5))
    path = export_spec(spec, tmp_path / "discrete", twin_id="ToyTankDiscrete-v0")
    bundle_mod.write_validation(bundle_mod.load_bundle(path), bundle_mod.ValidationRecord(
        passed=True, gates=[{"name": "fixture", "passed": True}]), {})
    log = tmp_path / "wrong.jsonl"
    with pytest.raises(DeployError, match="bundle is for twin ToyTankDiscrete-v0 but the live twin is ToyTank-v0"):
        deploy(DeployConfig(str(path), shared_server.endpoint, steps=5, log=str(log)), handle_signals=False)
    events = log_events(log)
    assert not any(e["event"] in ("step", "handover") for e in events)


def test_sigterm_leaves_the_twin_on_its_local_controller(shared_server, tank_bundle, tmp_path):
    log = tmp_path / "sigterm.jsonl"
    code = ("import json, sys\nfrom twingym.policies.deploy import DeployConfig, deploy\n"
            f"s = deploy(DeployConfig({str(tank_bundle)!r}, {shared_server.endpoint!r}, log={str(log)!r}))\n"
            "print(json.dumps({'stopped_by': s.stopped_by, 'steps': s.steps}))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: sum(e["event"] == "step" for e in log_events(log)) >= 5, 60, "deploy steps")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["stopped_by"] == "signal SIGTERM" and result["steps"] >= 5
    handover = [e for e in log_events(log) if e["event"] == "handover"]
    assert handover and handover[0]["to"] == "local" and handover[0]["reason"] == "signal SIGTERM"
    stop_step = max(e["step"] for e in log_events(log) if e["event"] == "step")
    wait_for(lambda: sum(r["mode"] == "local" and r["source"] == ["local"]
                         for r in steps_of(shared_server.record_path) if r["step"] > stop_step) >= 3,
             10, "local control after SIGTERM")


# ---- faults ---------------------------------------------------------------------------------------------
def test_nan_and_frozen_measurements_fall_back_to_the_baseline_and_recover(serve_thread, tank_bundle, tmp_path):
    handle = serve_thread(speed=25.0, faults=[Fault("nan", 25, 12), Fault("freeze", 65, 16)])
    log = tmp_path / "faults.jsonl"
    summary = deploy(DeployConfig(str(tank_bundle), handle.endpoint, steps=105, log=str(log)),
                     handle_signals=False)
    events = log_events(log)
    switches = [(e["event"], e["reason"]) for e in events if e["event"] in ("fallback", "recovered")]
    assert [s[0] for s in switches] == ["fallback", "recovered", "fallback", "recovered"], switches
    assert switches[0][1] == "non_finite_observation" and switches[2][1] == "stale"
    assert summary.fallbacks == 2 and summary.fallback_steps > 0 and summary.policy_steps > 40
    nan_fallback = next(e for e in events if e["event"] == "fallback")
    # the sanitiser bridges max_hold (5) bad readings by holding the last value, then falls back
    assert 25 + 5 <= nan_fallback["step"] <= 25 + 7
    steps = {e["step"]: e for e in events if e["event"] == "step"}
    bridged = [steps[k] for k in range(26, 30) if k in steps]
    assert bridged and all(e["controller"] == "policy" and np.all(np.isfinite(e["sanitized"]))
                           for e in bridged)
    time.sleep(0.3)
    record = steps_of(handle.record_path)
    local_steps = [r["step"] for r in record if r["source"] == ["local"]]
    assert any(30 < k < 45 for k in local_steps), "NaN fallback did not reach the twin"
    assert any(70 < k < 85 for k in local_steps), "stale fallback did not reach the twin"
    assert any(r["source"] == ["client"] and r["step"] > 85 for r in record), "policy did not regain control"


# ---- refusals -------------------------------------------------------------------------------------------
def _flip_byte(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_unvalidated_or_failed_bundles_are_refused(tank_bundle, tmp_path, capsys):
    from twingym.cli import app
    from twingym.cli.errors import run_guarded

    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/twingym/"    # nothing listens: refusal comes first
    onnx = tmp_path / "onnx"
    shutil.copytree(tank_bundle, onnx)
    _flip_byte(onnx / "policy.onnx")
    manifest = tmp_path / "manifest"
    shutil.copytree(tank_bundle, manifest)
    text = (manifest / "manifest.json").read_text()
    (manifest / "manifest.json").write_text(text.replace('"run_id": "test"', '"run_id": "tesT"'))
    cases = {onnx: "policy.onnx digest mismatch", manifest: "manifest.json",
             make_bundle(tmp_path / "unvalidated", validated=False): "has not been validated",
             make_bundle(tmp_path / "failed", passed=False): "failed validation gates: fixture"}
    for path, message in cases.items():
        with pytest.raises(DeployError, match=message):
            Deployment(DeployConfig(str(path), endpoint))
        capsys.readouterr()
        assert run_guarded(app, ["deploy", str(path), "--endpoint", endpoint, "--steps", "3"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("twingym: error:") and message in err[0]
    # shadow mode writes nothing: a failed or unvalidated bundle may be watched, a tampered one may not
    failed = Deployment(DeployConfig(str(tmp_path / "failed"), endpoint, shadow=True))
    assert "failed validation gates: fixture" in failed.summary.validation_warning
    with pytest.raises(DeployError, match=r"policy\.onnx digest mismatch"):
        Deployment(DeployConfig(str(onnx), endpoint, shadow=True))


# ---- restart --------------------------------------------------------------------------------------------
def test_server_killed_and_restarted_mid_run_deploy_reconnects(tank_bundle, tmp_path):
    port = free_port()
    record = tmp_path / "record.jsonl"
    config = dict(twin_id="ToyTank-v0", port=port, speed=25.0, record=str(record))
    spawn = dict(register={"ToyTank-v0": "toy_twin:ToyTank"}, pythonpath=[str(REPO / "tests" / "envs")],
                 timeout=120)
    first = spawn_server(ServerConfig(**config), **spawn)
    log = tmp_path / "deploy.jsonl"
    deployment = Deployment(DeployConfig(str(tank_bundle), first.endpoint, duration=150, log=str(log),
                                         backoff_initial=0.1, backoff_max=0.5))
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault(
        "summary", __import__("asyncio").run(deployment.run())), daemon=True)
    runner.start()
    second = None
    try:
        n_steps = lambda: sum(e["event"] == "step" for e in log_events(log))  # noqa: E731
        wait_for(lambda: n_steps() >= 10, 60, "deploy steps on the first server")
        first.kill()                                    # SIGKILL: a crash mid-run
        wait_for(lambda: any(e["event"] == "connection_lost" for e in log_events(log)), 20, "loss detected")
        time.sleep(0.5)
        # the restarted server: same port, same record (a thread here, to keep the test fast)
        second = start_server_thread(ServerConfig(**config))
        wait_for(lambda: any(e["event"] == "server_restarted" for e in log_events(log)), 60, "reconnect")
        restarted = next(e for e in log_events(log) if e["event"] == "server_restarted")
        wait_for(lambda: sum(e["event"] == "step" and e["controller"] == "policy" and e.get("wall_time", 0)
                             > restarted["wall_time"] for e in log_events(log)) >= 5, 30,
                 "policy control on the restarted server")
    finally:
        deployment.stop("test")
        runner.join(30)
        first.kill()
        if second is not None:
            second.stop()
    summary = result["summary"]
    events = log_events(log)
    kinds = [e["event"] for e in events]
    assert kinds.count("connected") >= 2 and "connect_failed" in kinds and summary.reconnects >= 1
    assert kinds[-2:] == ["handover", "stop"]
    # the crash left the record readable; the restarted server appended a new run to it
    runs = [r for r in read_record(record) if r["event"] == "start"]
    assert len(runs) == 2 and runs[0]["server_id"] != runs[1]["server_id"]
    assert any(r["event"] == "step" and r["source"] == ["client"] for r in read_record(record))
