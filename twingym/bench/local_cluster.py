"""A real multi-node Ray cluster on this machine (tests, scale benchmark), owned and stopped by its caller.

Every node is a ``ray start --block`` subprocess (``python -m ray.scripts.scripts``, the caller's
interpreter, so the nodes' workers import the same twingym). Each has its own
temp dir under one short folder in /tmp (unix socket paths must stay under 108 characters), its own
free ports and one CPU; the second node carries the custom resource ``second_node``. Stopping sends
SIGTERM to the two processes' groups (``--block`` stops its own raylet, GCS and workers), then
SIGKILL to any that remain: no other Ray on the machine is touched, and ``ray stop`` is never used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

OBJECT_STORE_BYTES = 80 * 2**20


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


_NODE_PORT_FLAGS = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                    "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
_HEAD_PORT_FLAGS = ("--port", "--dashboard-port", "--ray-client-server-port")


@dataclass
class TwoNodeCluster:
    """``address`` (GCS ``HOST:PORT``), ``dashboard_url`` (state API), ``root`` (temp folder)."""

    root: Path
    address: str = ""
    dashboard_url: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def head_temp_dir(self) -> Path:
        """The head's temp dir; its ``ray_current_cluster`` file names the head (``ray start``'s record)."""
        return self.root / "sys" / "ray"

    def _start(self, args: list[str], ports: list[int], temp_dir: Path, log: str) -> subprocess.Popen:
        temp_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.client_env()}
        env.pop("RAY_ADDRESS", None)
        port_args = [a for flag, port in zip(_NODE_PORT_FLAGS, ports, strict=True) for a in (flag, str(port))]
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats",
               "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp_dir), "--num-cpus", "1",
               "--num-gpus", "0", "--object-store-memory", str(OBJECT_STORE_BYTES), *port_args, *args]
        out = open(self.root / log, "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def client_env(self) -> dict[str, str]:
        """Environment of every process of this cluster and of its drivers: its own temp root, and
        Ray's token authentication with the user's token (``~/.ray/auth_token``) when there is one,
        else a token file in :attr:`root`. (Ray caches the token once per process, so every cluster
        a process talks to must share it.)"""
        token = Path.home() / ".ray" / "auth_token"
        if not token.is_file():
            token = self.root / "auth_token"
            if not token.is_file():
                token.write_text(secrets.token_hex(32))
        return {"RAY_TMPDIR": str(self.root / "sys"), "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(token)}

    def start(self, timeout_s: float = 180.0, nodes: int = 2, dashboard: bool = True) -> TwoNodeCluster:
        ports = free_ports(2 * len(_NODE_PORT_FLAGS) + len(_HEAD_PORT_FLAGS))
        head, node2, (port, dash, client) = ports[:6], ports[6:12], ports[12:]
        self.address = f"127.0.0.1:{port}"
        self.dashboard_url = f"http://127.0.0.1:{dash}"
        self._start(["--head", "--port", str(port), "--include-dashboard", str(dashboard).lower(), "--dashboard-host",
                     "127.0.0.1", "--dashboard-port", str(dash), "--ray-client-server-port", str(client)],
                    head, self.head_temp_dir, "head.log")
        self._wait(lambda: (self.head_temp_dir / "ray_current_cluster").is_file(), timeout_s, "head")
        if nodes == 2:
            self._start(["--address", self.address, "--resources", '{"second_node": 1}'], node2,
                        self.root / "node2", "node2.log")
            self._wait(lambda: (self.root / "node2" / "session_latest").exists(), timeout_s, "second node")
        if dashboard:
            self._wait(lambda: len(self.alive_nodes()) == nodes, timeout_s, "nodes")
        return self

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.time() + timeout_s
        last_error = ""
        while time.time() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"ray {what} exited ({proc.returncode}):\n{self.logs()}")
            try:
                if ready():
                    return
            except Exception as exc:  # not up yet: retry until the deadline
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(1.0)
        raise TimeoutError(f"ray {what} not ready after {timeout_s:.0f} s ({last_error[:500]}):\n{self.logs()}")

    def logs(self, lines: int = 15) -> str:
        """The last lines of each node's ``ray start`` output."""
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-lines:])
                         for log in sorted(self.root.glob("*.log")))

    def alive_nodes(self) -> list[dict]:
        """The state API's alive nodes (``node_id``, ``resources_total``, ...)."""
        from ray.util.state import list_nodes

        return [n.__dict__ if hasattr(n, "__dict__") else dict(n)
                for n in list_nodes(address=self.dashboard_url, filters=[("state", "=", "ALIVE")],
                                    raise_on_missing_output=False)]

    def second_node_id(self) -> str:
        return next(n["node_id"] for n in self.alive_nodes() if "second_node" in n["resources_total"])

    def stop(self) -> None:
        """SIGTERM then SIGKILL to the process groups this object started; remove the temp folder."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.time()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def two_node_cluster(nodes: int = 2, dashboard: bool = True):
    """Start a :class:`TwoNodeCluster` (``nodes`` 1 or 2); always stop it (also on failure).

    For the duration of the block this process has the cluster's :meth:`~TwoNodeCluster.client_env`
    (so the state API and drivers authenticate) and no ``RAY_ADDRESS``.
    """
    cluster = TwoNodeCluster(Path(tempfile.mkdtemp(prefix="tgray", dir="/tmp")))
    saved = {k: os.environ.get(k) for k in (*cluster.client_env(), "RAY_ADDRESS")}
    os.environ.update(cluster.client_env())
    os.environ.pop("RAY_ADDRESS", None)
    _reload_ray_config()
    try:
        yield cluster.start(nodes=nodes, dashboard=dashboard)
    finally:
        cluster.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reload_ray_config()


def _reload_ray_config() -> None:
    """Make an already imported Ray re-read ``RAY_AUTH_MODE`` (it reads its config once per process)."""
    if "ray" in sys.modules:
        from ray._raylet import Config

        Config.initialize("")
