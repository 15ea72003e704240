"""Who may open the dashboard and what they may do: loopback default, credentials + TLS off loopback,
read-only unless an authenticated operator mode is on (and that mode only switches local/remote)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from twingym.dashboard import (
    DashboardConfig,
    DashboardSecurity,
    DashboardSecurityError,
    FeedConfig,
    start_dashboard_thread,
)
from twingym.live import ServerConfig, free_port, start_server_thread

from twingym.cli.errors import run_guarded


@pytest.mark.parametrize(("host", "security", "message"), [
    ("0.0.0.0", DashboardSecurity(), "non-loopback"),
    ("192.0.2.10", DashboardSecurity(username="op", password="pw"), "TLS"),
    ("127.0.0.1", DashboardSecurity(operator=True), "operator mode needs credentials"),
    ("127.0.0.1", DashboardSecurity(username="op"), "both a user name and a password"),
])
def test_refused_settings(host: str, security: DashboardSecurity, message: str) -> None:
    with pytest.raises(DashboardSecurityError, match=message):
        security.check(host)


def test_cli_refuses_an_open_network_bind(capsys: pytest.CaptureFixture) -> None:
    from twingym.cli import app

    code = run_guarded(app, ["dashboard", "--host", "0.0.0.0", "--port", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "needs credentials" in err[0] and "TLS" in err[0]


def _request(url: str, data: dict | None = None, auth: tuple[str, str] | None = None,
             operator_header: bool = True) -> tuple[int, dict | str]:
    headers = {"Content-Type": "application/json"}
    if operator_header:
        headers["X-Twingym-Operator"] = "1"
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if r.headers.get_content_type() == "application/json" else text
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_mode(dashboard, mode: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = dashboard.feed._last
        if last is not None and last.mode == mode:
            return
        time.sleep(0.1)
    raise AssertionError(f"the twin did not reach control mode {mode}")


def test_read_only_by_default_and_operator_switch_needs_login(tmp_path: Path) -> None:
    server = start_server_thread(ServerConfig("ToyTank-v0", port=free_port(), speed=20.0, fsync=False,
                                              record=str(tmp_path / "record.jsonl")))
    dashboards = []
    try:
        plain = start_dashboard_thread(DashboardConfig(FeedConfig(server.endpoint), port=0))
        dashboards.append(plain)
        code, body = _request(plain.url + "api/control", {"mode": "local"})
        assert code == 403 and "read-only" in body
        code, page = _request(plain.url)
        assert code == 200 and "twingym" in page

        secure = DashboardSecurity(username="op", password="s3cret", operator=True)
        op = start_dashboard_thread(DashboardConfig(FeedConfig(server.endpoint), port=0, security=secure))
        dashboards.append(op)
        _wait_mode(op, "remote")
        assert _request(op.url)[0] == 401                                        # page needs the login
        assert _request(op.url + "api/control", {"mode": "local"})[0] == 401
        assert _request(op.url + "api/control", {"mode": "local"}, auth=("op", "wrong"))[0] == 401
        assert _request(op.url + "api/control", {"mode": "local"}, auth=("op", "s3cret"),
                        operator_header=False)[0] == 403                          # cross-site form guard
        assert _request(op.url + "api/control", {"setpoints": [1.0]}, auth=("op", "s3cret"))[0] == 400
        code, body = _request(op.url + "api/control", {"mode": "local"}, auth=("op", "s3cret"))
        assert code == 200 and body == {"mode": "local"}
        _wait_mode(op, "local")
        assert any(e["kind"] == "operator" for e in op.feed.events)
        assert any(e["kind"] == "mode" and "local" in e["text"] for e in plain.feed.events)
    finally:
        for d in dashboards:
            d.stop()
        server.stop()
