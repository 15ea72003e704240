"""Dashboard fan-out benchmark: updates per second reaching each of N browsers, and the live twin's
step rate with and without the dashboard and its browsers.

:func:`dashboard_fanout` starts ``twingym twin serve TWIN`` twice in a child process, the way an
operator runs it: once alone, once with ``--dashboard`` and ``browsers`` WebSocket clients (this
process, one connection each, reading every message as a page does). The twin's step rate is read
over OPC UA from its own ``Step`` counter in both runs; the ratio with/without must stay near 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twingym.bench.common import Record, record

READY = re.compile(r"serving \S+ .*? on (opc\.tcp://\S+),")
URL = re.compile(r"dashboard: (https?://\S+)")


def _serve(twin: str, speed: float, folder: Path, dashboard: bool) -> tuple[subprocess.Popen, str, str | None, Any]:
    from twingym.live import free_port

    log_path = folder / f"serve-{'dashboard' if dashboard else 'alone'}.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed by the caller)
    cmd = [sys.executable, "-c", "from twingym.cli import main; main()", "twin", "serve", twin,
           "--speed", str(speed), "--port", str(free_port()), "--no-fsync", "--duration", "900",
           "--record", str(folder / f"record-{int(dashboard)}.jsonl")] + (["--dashboard", "0"] if dashboard else [])
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        text = log_path.read_text()
        ready, url = READY.search(text.replace("\n", " ")), URL.search(text)
        if ready and (url or not dashboard):
            return proc, ready.group(1), url.group(1) if url else None, log
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    _stop(proc, log)
    raise RuntimeError(f"twin serve did not come up:\n{log_path.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen, log: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    log.close()


async def _step_rate(endpoint: str, seconds: float, during: Any = None) -> tuple[float, Any]:
    """Twin steps per wall second over ``seconds`` (read from ``Step``), running ``during`` meanwhile."""
    from twingym.policies.deploy.link import TwinLink

    link = TwinLink(endpoint)
    await link.connect()
    try:
        await asyncio.sleep(1.0)
        s0, t0 = (await link.read()).step, time.monotonic()
        extra = await asyncio.gather(during(seconds)) if during else [None]
        if not during:
            await asyncio.sleep(seconds)
        s1, t1 = (await link.read()).step, time.monotonic()
    finally:
        await link.close()
    return (s1 - s0) / (t1 - t0), extra[0]


async def _browsers(url: str, n: int, seconds: float) -> list[float]:
    """Frames per second each of ``n`` WebSocket clients received over ``seconds``."""
    import websockets

    ws_url = url.replace("http", "ws", 1) + "ws"

    async def one() -> float:
        async with websockets.connect(ws_url, max_size=None) as ws:
            while json.loads(await ws.recv())["type"] != "history":
                pass
            frames, start = 0, time.monotonic()
            while (left := seconds - (time.monotonic() - start)) > 0:
                try:
                    message = await asyncio.wait_for(ws.recv(), left)
                except TimeoutError:
                    break
                frames += message.startswith('{"type": "frame"')
            return frames / (time.monotonic() - start)

    return list(await asyncio.gather(*(one() for _ in range(n))))


def dashboard_fanout(twin: str = "WindFarm-v0", browsers: int = 20, steps_per_second: float = 20.0,
                     seconds: float = 10.0) -> dict[str, Any]:
    """Run the twin alone, then with a dashboard and ``browsers`` clients; return rates (see module doc)."""
    from twingym.envs import make

    _, params = make(twin)
    speed = float(getattr(params, "dt", 1.0)) * steps_per_second
    folder = Path(tempfile.mkdtemp(prefix="twingym-dashboard-bench-"))
    proc, endpoint, _, log = _serve(twin, speed, folder, dashboard=False)
    try:
        alone, _ = asyncio.run(_step_rate(endpoint, seconds))
    finally:
        _stop(proc, log)
    proc, endpoint, url, log = _serve(twin, speed, folder, dashboard=True)
    try:
        with_page, rates = asyncio.run(_step_rate(endpoint, seconds,
                                                  lambda s: _browsers(str(url), browsers, s)))
    finally:
        _stop(proc, log)
    return {"twin": twin, "browsers": browsers, "requested_steps_per_s": steps_per_second,
            "steps_per_s_alone": alone, "steps_per_s_with_dashboard": with_page,
            "updates_per_s_min": min(rates), "updates_per_s_mean": sum(rates) / len(rates),
            "folder": str(folder)}


def dashboard_records(quick: bool = True) -> list[Record]:
    """Bench records of :func:`dashboard_fanout` (20 browsers)."""
    r = dashboard_fanout(seconds=8.0 if quick else 20.0)
    return [
        record(f"{r['twin']} dashboard updates/s per browser ({r['browsers']} connected, slowest)", "updates/s",
               r["updates_per_s_min"], "required", 5.0, mean=r["updates_per_s_mean"]),
        record(f"{r['twin']} live twin steps/s with dashboard + {r['browsers']} browsers", "steps/s",
               r["steps_per_s_with_dashboard"], "twin alone", r["steps_per_s_alone"],
               requested=r["requested_steps_per_s"]),
    ]
