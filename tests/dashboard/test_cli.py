"""The dashboard from the CLI: standalone against a twin it reads over OPC UA only (no JAX in that
process), and beside ``twingym deploy --dashboard`` where the deploy log's events reach the page."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from twingym.live import ServerConfig, free_port, start_server_thread

from twingym.cli import app
from twingym.cli.dashboard_cmd import expand_optional_port
from twingym.cli.errors import run_guarded

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "live"))
from live_helpers import make_bundle  # noqa: E402

PROBE = ("import sys, runpy; sys.argv = ['twingym'] + sys.argv[1:]; "
         "import twingym.cli as c; rc = 0\n"
         "try:\n c.main()\nexcept SystemExit as e:\n rc = e.code\n"
         "print('jax imported:', 'jax' in sys.modules, flush=True); sys.exit(rc)")


def test_dashboard_flag_takes_an_optional_port() -> None:
    assert expand_optional_port(["twin", "serve", "X", "--dashboard"]) == ["twin", "serve", "X", "--dashboard", "8765"]
    assert expand_optional_port(["--dashboard", "--steps", "3"]) == ["--dashboard", "8765", "--steps", "3"]
    assert expand_optional_port(["--dashboard", "0"]) == ["--dashboard", "0"]
    assert expand_optional_port(["--dashboard", "-1"]) == ["--dashboard", "-1"]


def test_standalone_dashboard_reads_any_live_twin_without_jax(tmp_path: Path) -> None:
    server = start_server_thread(ServerConfig("ToyTank-v0", port=free_port(), speed=20.0, fsync=False,
                                              record=str(tmp_path / "record.jsonl")))
    log = open(tmp_path / "dashboard.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-c", PROBE, "dashboard", "--endpoint", server.endpoint,
                             "--port", "0"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and url is None:
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", (tmp_path / "dashboard.log").read_text())
            url = match.group(1) if match else None
            time.sleep(0.2)
        assert url, (tmp_path / "dashboard.log").read_text()
        state: dict = {}
        while time.monotonic() < deadline and not state.get("frames"):
            with urllib.request.urlopen(url + "api/state", timeout=5) as r:
                state = json.loads(r.read())
            time.sleep(0.3)
        assert state["connected"] and state["twin"]["twin_id"] == "ToyTank-v0" and state["frames"] > 0
        assert state["operator"] is False
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
        log.close()
        server.stop()
    assert "jax imported: False" in (tmp_path / "dashboard.log").read_text()


def test_deploy_with_dashboard_prints_its_url(tmp_path: Path, capsys) -> None:
    bundle = make_bundle(tmp_path / "tank")
    server = start_server_thread(ServerConfig("ToyTank-v0", port=free_port(), speed=50.0, fsync=False,
                                              record=str(tmp_path / "record.jsonl")))
    try:
        code = run_guarded(app, expand_optional_port(
            ["deploy", str(bundle), "--endpoint", server.endpoint, "--steps", "15",
             "--log", str(tmp_path / "deploy.jsonl"), "--dashboard", "0"]))
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert code == 0, err
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/", err)
    assert "deploy control: " in err
