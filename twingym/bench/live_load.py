"""Live twin under client load: does the twin's clock hold its step rate while many clients read?

:func:`step_rate_under_load` starts a live twin server in a child process at a requested step rate,
measures the rate it holds alone for ``seconds``, then with ``readers`` OPC UA clients reading every
measurement (plus ``Publishing`` and ``Step``) as fast as they can and ``writers`` clients writing
every setpoint once per twin step, all from a second child process, for another ``seconds``. The
rates come from the server's own step record (wall time of every step), so they are what the twin
did, not what the clients saw.

``python -m twingym.bench.live_load [--twin ID] [--readers N] [--writers N] [--rate R] [--seconds S]``
prints a table. The clients' side: ``python -m twingym.bench.live_load clients ENDPOINT READERS
WRITERS SECONDS`` (one asyncio loop, one JSON line on stdout when connected, one when done).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twingym.bench.common import Record, print_records, record


def steps_between(record_path: str | Path, t0: float, t1: float) -> int:
    """Steps of a live record whose wall time lies in ``[t0, t1)``."""
    from twingym.live import read_record

    return sum(1 for r in read_record(record_path) if r.get("event") == "step" and t0 <= r["wall_time"] < t1)


async def _clients(endpoint: str, readers: int, writers: int, seconds: float) -> dict[str, Any]:
    from asyncua import Client, ua

    from twingym.live.contract import NAMESPACE_URI, twin_node

    clients = [Client(endpoint, timeout=30) for _ in range(readers + writers)]
    for client in clients:
        await client.connect()
    idx = await clients[0].get_namespace_index(NAMESPACE_URI)
    node = lambda c, name: c.get_node(ua.NodeId(name, idx))  # noqa: E731
    obs_names = await node(clients[0], twin_node("ObservationNodes")).read_value()
    set_names = await node(clients[0], twin_node("SetpointNodes")).read_value()
    low = await node(clients[0], twin_node("ActionLow")).read_value()
    dt = await node(clients[0], twin_node("Dt")).read_value()
    speed = await node(clients[0], twin_node("SpeedFactor")).read_value()
    counts = {"reads": 0, "writes": 0, "errors": 0}
    print(json.dumps({"connected": readers + writers}), flush=True)
    end = time.monotonic() + seconds

    async def read_loop(client: Any) -> None:
        nodes = [node(client, twin_node("Publishing")), *(node(client, n) for n in obs_names),
                 node(client, twin_node("Step"))]
        while time.monotonic() < end:
            try:
                await client.read_values(nodes)
                counts["reads"] += 1
            except Exception:
                counts["errors"] += 1
                await asyncio.sleep(0.01)

    async def write_loop(client: Any) -> None:
        nodes = [node(client, n) for n in set_names]
        values = [ua.DataValue(ua.Variant(float(v), ua.VariantType.Double)) for v in low]
        while time.monotonic() < end:
            try:
                await client.write_values(nodes, values)
                counts["writes"] += 1
            except Exception:
                counts["errors"] += 1
            await asyncio.sleep(dt / speed)

    await asyncio.gather(*(read_loop(c) for c in clients[:readers]),
                         *(write_loop(c) for c in clients[readers:]))
    for client in clients:
        try:
            await client.disconnect()
        except Exception:
            counts["errors"] += 1
    return counts


def step_rate_under_load(twin_id: str = "WindFarm-v0", readers: int = 50, writers: int = 2,
                         rate: float = 25.0, seconds: float = 20.0, out_dir: str | Path | None = None
                         ) -> dict[str, Any]:
    """The step rate a live twin holds alone and under ``readers`` + ``writers`` clients.

    Args:
        rate: requested steps per wall second (the speed factor is ``rate * dt``).
        seconds: length of each measurement window (alone, then loaded).
    """
    from twingym.envs import make
    from twingym.live import ServerConfig, free_port, spawn_server

    _, params = make(twin_id)
    dt = float(getattr(params, "dt", 1.0))
    folder = Path(out_dir or tempfile.mkdtemp(prefix="twingym-live-load-"))
    config = ServerConfig(twin_id, speed=rate * dt, port=free_port(), record=str(folder / "record.jsonl"),
                          record_state=False)
    server = spawn_server(config, log_dir=folder)
    try:
        time.sleep(2.0)  # first steps compile
        t0 = time.time()
        time.sleep(seconds)
        t1 = time.time()
        proc = subprocess.Popen([sys.executable, __file__, "clients", config.endpoint,
                                 str(readers), str(writers), str(seconds)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            first = proc.stdout.readline()
            if not first:
                raise RuntimeError("the client process exited before it connected")
            t2 = time.time()
            last = proc.stdout.readline()
            t3 = time.time()
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        counts = json.loads(last) if last else {"reads": 0, "writes": 0, "errors": -1}
    finally:
        server.stop()
    quiet = steps_between(config.record, t0, t1) / (t1 - t0)
    loaded = steps_between(config.record, t2, t3) / (t3 - t2)
    return {"twin_id": twin_id, "requested": rate, "quiet": quiet, "loaded": loaded, "readers": readers,
            "writers": writers, "seconds": seconds, "loaded_seconds": t3 - t2, **counts,
            "reads_per_s": counts["reads"] / max(t3 - t2, 1e-9), "record": str(config.record)}


def to_records(result: dict[str, Any]) -> list[Record]:
    """Bench records: the rate held alone and under load, each against the requested rate."""
    who = f"{result['readers']} readers + {result['writers']} writers"
    alone = record(f"{result['twin_id']} live twin steps/s, no clients", "steps/s", result["quiet"],
                   "requested", result["requested"])
    loaded = record(f"{result['twin_id']} live twin steps/s, {who}", "steps/s", result["loaded"],
                    "requested", result["requested"], quiet_steps_per_s=result["quiet"],
                    reads_per_s=result["reads_per_s"], client_errors=result["errors"],
                    seconds=result["loaded_seconds"])
    return [alone, loaded]


def records(quick: bool = True) -> list[Record]:
    """Bench section: 50 readers and 2 writers on the wind farm twin at 25 steps/s."""
    return to_records(step_rate_under_load(seconds=10.0 if quick else 30.0))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["clients"]:
        endpoint, readers, writers, seconds = argv[1], int(argv[2]), int(argv[3]), float(argv[4])
        print(json.dumps(asyncio.run(_clients(endpoint, readers, writers, seconds))), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", default="WindFarm-v0")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result = step_rate_under_load(args.twin, args.readers, args.writers, args.rate, args.seconds, args.out)
    print_records(to_records(result), "live twin under client load")
    print(result)


if __name__ == "__main__":
    main()
