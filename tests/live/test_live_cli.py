"""The ``twingym twin serve`` and ``twingym deploy`` verbs: runs, limits and one-line refusals."""

from __future__ import annotations

import pytest
from twingym.envs import BUILTIN_TWINS
from twingym.live import read_record

from twingym.cli import app
from twingym.cli.errors import run_guarded


def test_twin_serve_runs_for_the_requested_steps_and_records_them(tmp_path, port, capsys):
    record = tmp_path / "rec.jsonl"
    code = run_guarded(app, ["twin", "serve", "ToyTank-v0", "--port", str(port), "--speed", "100",
                             "--steps", "12", "--seed", "4", "--record", str(record),
                             "--fault", "nan@3:2"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"opc.tcp://127.0.0.1:{port}/twingym/" in err and "stopped (steps) after 12 steps" in err
    lines = list(read_record(record))
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "stop"
    steps = [r for r in lines if r["event"] == "step"]
    assert [r["step"] for r in steps] == list(range(1, 13)) and lines[0]["seed"] == 4
    assert [r["step"] for r in steps if "faults" in r] == [3, 4]


@pytest.mark.parametrize("argv, message", [
    (["twin", "serve", "ToyTank-v0", "--host", "0.0.0.0"], "not loopback"),
    (["twin", "serve", "ToyTank-v0", "--scenario", "hurricane"], "no scenario 'hurricane'"),
    (["twin", "serve", "ToyTank-v0", "--fault", "smoke@1:2"], "fault kind 'smoke'"),
    (["twin", "serve", "ToyTank-v0", "--speed", "0"], "speed factor"),
    (["twin", "serve", "NoSuchTwin-v0"], "unknown twin"),
    (["twin", "serve", "ToyTank-v0", "--user", "op"], "needs a password"),
    (["deploy", "/nonexistent/bundle"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("TWINGYM_OPCUA_PASSWORD", raising=False)
    assert run_guarded(app, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("twingym: error:") and message in err[0], err


def test_insecure_flag_says_what_it_exposes(tmp_path, port, capsys):
    # an unknown scenario stops it right after the security check: no port is opened off loopback
    code = run_guarded(app, ["twin", "serve", "ToyTank-v0", "--host", "0.0.0.0", "--insecure",
                             "--port", str(port), "--scenario", "none-such"])
    assert code == 2
    err = capsys.readouterr().err
    assert "WARNING --insecure" in err and "WRITE every setpoint" in err and "0.0.0.0" in err


@pytest.mark.slow
@pytest.mark.parametrize("twin_id", sorted(BUILTIN_TWINS))
def test_every_builtin_twin_is_served_with_its_labels(twin_id, serve_thread):
    """Each registered twin gets an address space from its labels and steps under a client."""
    import asyncio

    from twingym.envs import make
    from twingym.policies.deploy import TwinLink

    handle = serve_thread(twin_id=twin_id, speed=50.0)
    env, params = make(twin_id)

    async def check():
        link = TwinLink(handle.endpoint)
        try:
            desc = await link.connect()
            snap = await link.read()
            return desc, snap
        finally:
            await link.close()
    desc, snap = asyncio.run(check())
    assert desc.observation_labels == [f"{a}/{n} [{u}]" for a, n, u in env.observation_labels(params)]
    assert desc.action_labels == [f"{a}/{n} [{u}]" for a, n, u in env.action_labels(params)]
    assert len(snap.measurements) == len(desc.observation_nodes) and len(snap.applied) == len(desc.setpoint_nodes)
