"""`twingym deploy` exits honestly: non-zero when it gave up or never controlled, and at once (no
retries) on what retrying cannot fix: a security mismatch, the wrong twin, refused credentials."""

from __future__ import annotations

import pytest
from twingym.live import SecurityConfig, free_port
from twingym.live.security import PASSWORD_ENV
from twingym.policies.deploy import read_log
from twingym.policies.deploy.loop import DeploySummary

from twingym.cli import app
from twingym.cli.errors import run_guarded


def _deploy(capsys, bundle, endpoint, log, *extra):
    code = run_guarded(app, ["deploy", str(bundle), "--endpoint", endpoint, "--log", str(log), *extra])
    lines = capsys.readouterr().err.strip().splitlines()
    events = [e["event"] for e in read_log(log)] if log.exists() else []
    return code, lines, events


def test_deploy_that_gave_up_on_a_closed_port_exits_non_zero(tank_bundle, tmp_path, capsys):
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/twingym/"  # nothing listens there
    code, lines, events = _deploy(capsys, tank_bundle, endpoint, tmp_path / "d.jsonl", "--give-up-after", "1")
    assert code == 1
    assert lines[-1].startswith("twingym: error: deploy gave up: no connection to")
    assert "connect_failed" in events  # an outage is retried until it gives up


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """A ToyTank server that accepts only Basic256Sha256 SignAndEncrypt and user 'operator'."""
    from live_helpers import start_thread

    folder = tmp_path_factory.mktemp("strict")
    handle = start_thread(folder, speed=20.0, security=SecurityConfig(
        username="operator", password="s3cret", mode="sign_encrypt", generate_certs=str(folder / "srv")))
    handle.cert = folder / "srv" / "server-cert.der"
    yield handle
    handle.stop()


@pytest.mark.parametrize("password, extra, needle", [
    ("s3cret", ["--security", "none"], "refused a security-None channel"),
    ("s3cret", ["--security", "sign_encrypt"], "give --server-cert"),
    ("wrong", ["--security", "sign_encrypt", "--server-cert", "{cert}"], "refused the login"),
])
def test_errors_retrying_cannot_fix_fail_at_once(strict_server, tank_bundle, tmp_path, capsys, monkeypatch,
                                                 password, extra, needle):
    monkeypatch.setenv(PASSWORD_ENV, password)
    extra = [x.format(cert=strict_server.cert) for x in extra]
    code, lines, events = _deploy(capsys, tank_bundle, strict_server.endpoint, tmp_path / "d.jsonl",
                                  "--user", "operator", "--generate-certs", str(tmp_path / "cli"),
                                  "--give-up-after", "600", *extra)
    assert code == 2 and len(lines) == 1 and needle in lines[0], lines
    assert "connect_failed" not in events  # not one retry


def test_pinned_server_certificate_deploys_and_the_wrong_twin_is_refused(strict_server, serve_thread,
                                                                         tank_bundle, tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    code, lines, _ = _deploy(capsys, tank_bundle, strict_server.endpoint, tmp_path / "ok.jsonl",
                             "--user", "operator", "--security", "sign_encrypt", "--server-cert",
                             str(strict_server.cert), "--generate-certs", str(tmp_path / "cli"), "--steps", "5")
    assert code == 0, lines
    monkeypatch.delenv(PASSWORD_ENV)
    other = serve_thread(twin_id="ToyTankDiscrete-v0", speed=20.0)
    code, lines, events = _deploy(capsys, tank_bundle, other.endpoint, tmp_path / "wrong.jsonl",
                                  "--give-up-after", "600", "--steps", "5")
    assert code == 2 and "bundle is for twin ToyTank-v0 but the live twin is ToyTankDiscrete-v0" in lines[-1]
    assert "connect_failed" not in events


def test_a_run_in_which_the_policy_never_controlled_is_a_failure():
    ok = DeploySummary(steps=10, policy_steps=7, fallback_steps=3, stopped_by="steps", endpoint="E")
    assert ok.failure() is None
    assert "gave up" in DeploySummary(steps=4, policy_steps=4, stopped_by="gave_up", endpoint="E").failure()
    assert "all on the fallback" in DeploySummary(steps=6, fallback_steps=6, stopped_by="steps").failure()
    assert "no step observed" in DeploySummary(stopped_by="signal SIGTERM").failure()
    assert DeploySummary(shadow=True, steps=5, stopped_by="steps").failure() is None
    assert "never observed" in DeploySummary(shadow=True, stopped_by="duration").failure()
