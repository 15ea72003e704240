"""Run a dashboard with uvicorn: in the foreground (:func:`serve_dashboard`) or in a background thread
(:func:`start_dashboard_thread`, used by ``twin serve --dashboard``, ``deploy --dashboard`` and the
main job). The listening socket is bound before the server starts, so port 0 picks a free port and
:attr:`DashboardConfig.url` is known at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from twingym.dashboard.app import create_app
from twingym.dashboard.feed import FeedConfig, TwinFeed
from twingym.dashboard.hub import Hub
from twingym.dashboard.security import DashboardSecurity

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass
class DashboardConfig:
    """One dashboard: where it listens, what it reads, who may open it.

    Attributes:
        feed: the live twin to read (endpoint, OPC UA client security, update rate, deploy log).
        host, port: the web address (loopback by default; port 0 picks a free one).
        security: see :class:`DashboardSecurity` (non-loopback needs credentials and TLS).
    """

    feed: FeedConfig
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    security: DashboardSecurity = field(default_factory=DashboardSecurity)

    def check(self) -> None:
        """Raise ``ValueError`` (or :class:`DashboardSecurityError`) naming the first bad option."""
        if not 0 <= self.port <= 65535:
            raise ValueError(f"dashboard port must be in 0..65535, got {self.port}")
        self.security.check(self.host)

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.security.tls else "http"
        return f"{scheme}://{host}:{port if port is not None else self.port}/"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``OSError`` when taken)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Dashboard:
    """A configured, bound dashboard; :meth:`serve` runs it in the current event loop."""

    def __init__(self, config: DashboardConfig) -> None:
        config.check()
        self.config = config
        self.hub = Hub()
        self.feed = TwinFeed(config.feed, self.hub)
        self.socket = bind(config.host, config.port)
        self.port = int(self.socket.getsockname()[1])
        self.url = config.url(self.port)
        sec = config.security
        self._server = uvicorn.Server(uvicorn.Config(
            create_app(self.feed, self.hub, sec), log_level="warning", log_config=None, access_log=False,
            lifespan="off", ssl_certfile=sec.certfile, ssl_keyfile=sec.keyfile, ws="websockets-sansio", ws_ping_interval=20.0))

    async def serve(self, on_ready: Callable[[str], None] | None = None) -> None:
        feed_task = asyncio.create_task(self.feed.run())
        try:
            server_task = asyncio.create_task(self._server.serve(sockets=[self.socket]))
            while not self._server.started and not server_task.done():
                await asyncio.sleep(0.02)
            if on_ready is not None and self._server.started:
                on_ready(self.url)
            await server_task
        finally:
            self.feed.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await feed_task
            self.socket.close()

    def stop(self) -> None:
        """Ask the server to finish (thread-safe: it only sets a flag uvicorn polls)."""
        self._server.should_exit = True


def serve_dashboard(config: DashboardConfig, log: Callable[[str], None] | None = print) -> None:
    """Serve a dashboard in this thread until Ctrl-C."""
    dashboard = Dashboard(config)
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    say = log or (lambda msg: None)
    say(f"dashboard for {config.feed.endpoint}: {dashboard.url}  "
        f"({config.security.describe(config.host)})")
    asyncio.run(dashboard.serve())


class DashboardThread:
    """A dashboard in a daemon thread with its own event loop. Use :func:`start_dashboard_thread`."""

    def __init__(self, config: DashboardConfig) -> None:
        self.dashboard = Dashboard(config)
        self.url = self.dashboard.url
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="twingym-dashboard", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.dashboard.serve(on_ready=lambda url: self._ready.set()))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    def start(self, timeout: float = 30.0) -> DashboardThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"dashboard did not start within {timeout:g} s")
        if self._error is not None:
            raise RuntimeError(f"dashboard failed to start: {self._error}") from self._error
        return self

    @property
    def feed(self) -> TwinFeed:
        return self.dashboard.feed

    def stop(self, timeout: float = 10.0) -> None:
        self.dashboard.stop()
        self._thread.join(timeout)


def start_dashboard_thread(config: DashboardConfig, timeout: float = 30.0) -> DashboardThread:
    """Start a dashboard in the background; returns once it accepts connections (``.url``)."""
    return DashboardThread(config).start(timeout)
