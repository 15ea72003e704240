"""Run a live twin server in the background and get its endpoint back.

- :func:`start_server_thread`: in this process, in a daemon thread with its own event loop (fast to
  start; shares this process's JAX).
- :func:`spawn_server`: in a child process (``python -m twingym.live``), so it can be killed
  (``SIGKILL``) and restarted like a real plant server.

Both wait until the endpoint accepts connections and return a handle with ``endpoint``,
``record_path`` and ``stop()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from twingym.live.server import LiveTwinServer, ServerConfig, ServeSummary


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A :class:`LiveTwinServer` running in a daemon thread. Use :func:`start_server_thread`."""

    def __init__(self, config: ServerConfig, log: Any = None) -> None:
        self.server = LiveTwinServer(config, log=log)
        self.config = config
        self.endpoint = config.endpoint
        self.record_path = self.server.record_path
        self.summary: ServeSummary | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"twingym-live-{config.port}", daemon=True)

    def _main(self) -> None:
        logging.getLogger("asyncua").setLevel(logging.ERROR)
        try:
            self.summary = asyncio.run(self.server.run(on_ready=lambda _: self._ready.set()))
        except BaseException as exc:  # reported to the starting thread
            self.error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 60.0) -> str:
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"live twin server did not start within {timeout:g} s")
        if self.error is not None:
            raise RuntimeError(f"live twin server failed to start: {self.error}") from self.error
        return self.endpoint

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> ServeSummary | None:
        """Stop after the current step and wait for the thread; returns the run summary."""
        self.server.stop("stop")
        self._thread.join(timeout)
        return self.summary

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server_thread(config: ServerConfig, timeout: float = 60.0, log: Any = None) -> ServerThread:
    """Start a live twin server in a background thread; returns the running handle (``.endpoint``)."""
    handle = ServerThread(config, log=log)
    handle.start(timeout)
    return handle


class ServerProcess:
    """A live twin server in a child process. Use :func:`spawn_server`."""

    def __init__(self, config: ServerConfig, process: subprocess.Popen, record_path: Path,
                 stderr_path: Path) -> None:
        self.config = config
        self.endpoint = config.endpoint
        self.process = process
        self.record_path = record_path
        self.stderr_path = stderr_path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server dies mid-step, as in a crash."""
        if self.alive:
            self.process.kill()
        self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (clean stop), then SIGKILL after ``timeout``; returns the exit code."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_server(config: ServerConfig, *, register: dict[str, str] | None = None,
                 pythonpath: list[str] | None = None, timeout: float = 120.0,
                 log_dir: str | Path | None = None) -> ServerProcess:
    """Start ``python -m twingym.live`` for ``config``; return once the endpoint is up.

    Args:
        register: extra twins the child registers first, id -> ``"module:Class"`` (test twins).
        pythonpath: folders prepended to the child's ``sys.path`` (where those modules live).
        timeout: seconds to wait for the endpoint (JAX import and compilation included).
        log_dir: where the child's stderr goes (default: next to the record).
    """
    record_path = config.record_path()
    if config.record is None:
        config.record = str(record_path)
    folder = Path(log_dir) if log_dir else record_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, cfg_path = tempfile.mkstemp(prefix="twingym-live-", suffix=".json")
    with os.fdopen(fd, "w") as f:  # 0600: the config may hold a password
        json.dump({"config": config.to_json(), "register": register or {},
                   "pythonpath": pythonpath or []}, f)
    ready = Path(tempfile.mkdtemp(prefix="twingym-live-ready-")) / "ready"
    stderr_path = folder / f"server-{config.port}.stderr.log"
    with open(stderr_path, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "twingym.live", cfg_path, str(ready)],
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    handle = ServerProcess(config, proc, record_path, stderr_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            return handle
        if proc.poll() is not None:
            tail = stderr_path.read_text(errors="replace").strip().splitlines()[-5:]
            Path(cfg_path).unlink(missing_ok=True)
            raise RuntimeError(f"live twin server exited with code {proc.returncode}: " + " | ".join(tail))
        time.sleep(0.05)
    handle.kill()
    Path(cfg_path).unlink(missing_ok=True)
    raise TimeoutError(f"live twin server did not start within {timeout:g} s (log: {stderr_path})")
