"""Read a live twin over OPC UA, as any client would, and turn it into frames and events for browsers.

:class:`TwinFeed` owns one OPC UA client connection (:class:`TwinLink`, the deploy runtime's JAX-free
client) whatever the number of browsers: it reads one snapshot every ``1 / rate`` wall seconds,
encodes it once as JSON, and hands the same text to every browser (:class:`Hub`). The twin's step
rate therefore does not depend on how many pages are open.

A frame (``type: frame``)::

    step, sim_time, episode, episode_step, reward, cost, episode_return, total_reward,
    mode (remote | local), faults (''), consistent,
    m: measurements (observation order), a: applied setpoints, b: baseline suggestion (action order)

Events (``type: event``, ``{time, step, kind, text, connected}``) are derived from consecutive snapshots
(control mode switches, faults starting and clearing, episode ends, a restarted server, lost and
regained connections) and, when ``events_log`` names a deploy decision log, from its ``fallback``,
``recovered``, ``connection_lost`` and ``handover`` lines. NaN becomes ``null`` in JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from twingym.dashboard.hub import Hub
from twingym.live.contract import twin_node
from twingym.policies.deploy.link import CONNECTION_ERRORS, ClientSecurity, LinkError, Snapshot, TwinLink

HISTORY = 600          # frames kept for a newly opened page (at 10 Hz: one minute)
EVENTS = 200           # events kept for a newly opened page
DEPLOY_EVENTS = {"fallback": "fallback", "recovered": "recovered", "connection_lost": "deploy link",
                 "server_restarted": "deploy link", "handover": "handover", "handover_failed": "handover"}


def _num(value: float) -> float | None:
    return value if isinstance(value, float | int) and math.isfinite(value) else None


def frame_of(snap: Snapshot) -> dict[str, Any]:
    """The JSON-able frame of one snapshot (see the module docstring)."""
    return {"type": "frame", "step": snap.step, "sim_time": _num(snap.sim_time), "episode": snap.episode,
            "episode_step": snap.episode_step, "reward": _num(snap.last_reward),
            "cost": _num(snap.last_cost), "episode_return": _num(snap.episode_return),
            "total_reward": _num(snap.total_reward), "mode": snap.mode, "faults": snap.faults,
            "consistent": snap.consistent, "wall_time": time.time(),
            "m": [_num(v) for v in snap.measurements], "a": [_num(v) for v in snap.applied],
            "b": [_num(v) for v in snap.baseline]}


def events_between(old: Snapshot | None, new: Snapshot) -> list[tuple[str, str]]:
    """``(kind, text)`` events that happened between two consecutive snapshots."""
    if old is None:
        return [("mode", f"control mode {new.mode}")] + ([("fault", f"fault active: {new.faults}")]
                                                         if new.faults else [])
    out: list[tuple[str, str]] = []
    if new.server_id != old.server_id:
        out.append(("server", "the live twin restarted (new server id)"))
    if new.mode != old.mode:
        out.append(("mode", f"control mode {old.mode} -> {new.mode}"))
    if new.faults != old.faults:
        out.append(("fault", f"fault active: {new.faults}" if new.faults else "faults cleared"))
    if new.episode > old.episode and math.isfinite(new.last_episode_return):
        out.append(("episode", f"episode {old.episode} ended, return {new.last_episode_return:.3f}"))
    return out


@dataclass
class FeedConfig:
    """Where the feed reads from.

    Attributes:
        endpoint: the live twin, ``opc.tcp://host:port/path``.
        security: OPC UA client security (user name login, certificates).
        rate: snapshots read and pushed per wall second (> 0).
        events_log: a deploy decision log (JSON lines) whose fallbacks become events, or ``None``.
    """

    endpoint: str
    security: ClientSecurity | None = None
    rate: float = 10.0
    events_log: str | None = None


class TwinFeed:
    """One OPC UA client feeding a :class:`Hub`. Start with :meth:`run` inside the web server's loop."""

    def __init__(self, config: FeedConfig, hub: Hub) -> None:
        if not (config.rate > 0 and math.isfinite(config.rate)):
            raise ValueError(f"dashboard update rate must be a finite number > 0, got {config.rate}")
        self.config = config
        self.hub = hub
        self.link = TwinLink(config.endpoint, config.security)
        self.description: dict[str, Any] | None = None
        self.history: deque[str] = deque(maxlen=HISTORY)
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS)
        self.connected = False
        self.last_error = ""
        self.frames = 0
        self._last: Snapshot | None = None
        self._log_offset = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    # ---- what a new page gets ---------------------------------------------------------------------
    def hello(self, operator: bool) -> list[str]:
        """The first messages to a page: the twin's description and recent events, then recent frames."""
        hello = json.dumps({"type": "hello", "twin": self.description, "connected": self.connected,
                            "error": self.last_error, "operator": operator,
                            "events": list(self.events), "rate": self.config.rate})
        return [hello, '{"type": "history", "frames": [' + ",".join(self.history) + "]}"]

    # ---- the loop ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect (retrying with backoff), then read and push until :meth:`stop`."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                await self._connect()
                backoff = 0.5
                await self._poll()
            except LinkError as exc:
                self._lost(str(exc))
            except CONNECTION_ERRORS as exc:
                self._lost(f"{type(exc).__name__}: {exc}")
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), backoff)
            backoff = min(backoff * 2, 5.0)
        await self.link.close()

    async def _connect(self) -> None:
        desc = await self.link.connect()
        picture = await self._schematic()
        self.description = {
            "twin_id": desc.twin_id, "scenario": desc.scenario, "dt": desc.dt, "speed": desc.speed,
            "endpoint": self.config.endpoint, "action_kind": desc.action_kind,
            "action_low": [_num(v) for v in desc.action_low], "action_high": [_num(v) for v in desc.action_high],
            "observation_labels": desc.observation_labels, "action_labels": desc.action_labels,
            "baseline_name": desc.baseline_name, "schematic": picture}
        self.connected = True
        self.last_error = ""
        self._event("link", f"connected to {desc.twin_id} ({desc.scenario}) at {self.config.endpoint}")
        self.hub.publish(json.dumps({"type": "twin", "twin": self.description}))

    async def _schematic(self) -> dict[str, Any]:
        """The twin's drawing geometry (``twingym/Schematic``); ``{}`` when it publishes none."""
        assert self.link.client is not None
        node = self.link.client.get_node(ua.NodeId(twin_node("Schematic"), self.link.namespace_index))
        try:
            return dict(json.loads(await node.read_value() or "{}"))
        except (ua.UaError, TypeError, ValueError):      # a plant without it: generic drawing
            return {}

    def _lost(self, error: str) -> None:
        was_connected, self.connected = self.connected, False
        if was_connected or error != self.last_error:
            self._event("link", f"connection to the twin lost: {error}" if was_connected
                        else f"cannot reach the twin: {error}")
        self.last_error = error
        self._last = None

    async def _poll(self) -> None:
        period = 1.0 / self.config.rate
        deadline = time.monotonic()
        while not self._stop.is_set():
            snap = await self.link.read()
            for kind, text in events_between(self._last, snap):
                self._event(kind, text, snap.step)
            self._tail_deploy_log()
            self._last = snap
            text = json.dumps(frame_of(snap))
            self.history.append(text)
            self.frames += 1
            self.hub.publish(text, is_frame=True)
            deadline += period
            delay = deadline - time.monotonic()
            if delay < -period:            # fell behind: do not try to catch up
                deadline, delay = time.monotonic(), 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(delay, 0.0))

    async def set_mode(self, mode: str) -> None:
        """Write the twin's ``ControlMode`` (operator action; the only write the dashboard makes)."""
        if mode not in ("local", "remote"):
            raise ValueError(f"control mode must be local or remote, got {mode!r}")
        if not self.connected:
            raise ConnectionError("not connected to the twin")
        await self.link.write(mode=mode)
        self._event("operator", f"operator switched control to {mode}")

    # ---- events -----------------------------------------------------------------------------------
    def _event(self, kind: str, text: str, step: int | None = None) -> None:
        event = {"type": "event", "time": time.time(), "step": step, "kind": kind, "text": text,
                 "connected": self.connected}
        self.events.append(event)
        self.hub.publish(json.dumps(event))

    def _tail_deploy_log(self) -> None:
        """Turn new fallback/recovery/handover lines of the deploy log into events."""
        if not self.config.events_log:
            return
        path = Path(self.config.events_log)
        try:
            with path.open("rb") as f:
                f.seek(self._log_offset)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1          # only whole lines; the rest is read next time
        self._log_offset += end
        for raw in chunk[:end].splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            kind = DEPLOY_EVENTS.get(line.get("event", ""))
            if kind is None:
                continue
            detail = line.get("reason") or line.get("error") or line.get("to") or ""
            self._event(kind, f"deploy {line['event'].replace('_', ' ')}" + (f": {detail}" if detail else ""),
                        line.get("step"))
