"""The live twin server: a :class:`LiveTwin` stepped in wall-clock time behind an asyncua server.

Address space (namespace :data:`contract.NAMESPACE_URI`, string node ids, see :mod:`contract`)::

    Objects/TwinGym                      twin-level variables (Step, SimTime, ControlMode, ...)
    Objects/TwinGym/<asset>              one object per asset of the observation/action labels
        Measurements/<name>              observation components (read-only, EngineeringUnits)
        Setpoints/<name>                 action components, written by clients
        Applied/<name>                   setpoints applied during the last step (read-only)
        Baseline/<name>                  the reference baseline's suggestion for the next step
        Status, SetpointSource           ok | nan | frozen;  client | held | initial | local

Every measurement, setpoint, applied value and baseline suggestion carries a Description, its
``EngineeringUnits`` (UN/CEFACT Recommendation 20 code as ``UnitId``) and ``EURange`` (from the
twin's spaces), and, for the wind twins, its IEC 61400-25-2 data object as an ``IEC61400_25``
property (:mod:`information_model`). Client writes pass the :mod:`write_gate` (numeric types
converted, ``BadOutOfRange`` for NaN and out-of-range values, ``BadNotWritable`` for read-only
variables). Trips, limit violations, fallbacks and control-mode changes are OPC UA events
(:mod:`events`) from the Server object and the twin's object.

Every ``dt / speed`` wall seconds the server takes the setpoints clients wrote since the previous
step, steps the twin once, appends the step to the crash-safe record, then publishes: first
``Publishing = k``, then every value, then ``Step = k``, so a reader that sees ``Publishing ==
Step`` in one Read has a consistent snapshot (:func:`contract.is_consistent`).

Stepping and publishing are apart: the twin's clock (take setpoints, step, record) runs in its own
thread, and the event loop that answers clients publishes the newest step when it gets to it. Many
readers can slow the publication (a reader may then see every other step: ``skipped_publications``
counts them) but not the twin's clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from asyncua import Server, ua
from asyncua.common.callback import CallbackType
from twingym.live import contract
from twingym.live.events import EventDetector, EventPublisher, TwinEvent
from twingym.live.information_model import variable_info
from twingym.live.record import StepRecorder
from twingym.live.security import (
    LoginThrottle,
    PasswordUserManager,
    SecurityConfig,
    SecurityPlan,
    enforce_offered_channels,
    plan_security,
    require_gate,
)
from twingym.live.twin_runtime import CONTROL_MODES, Fault, LiveTwin, StepOutcome
from twingym.live.write_gate import SetpointRule, WriteGate

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4840
DEFAULT_PATH = "/twingym/"
APP_URI = "urn:twingym:live:server"

_TYPES = {"String": ua.VariantType.String, "Int64": ua.VariantType.Int64,
          "Double": ua.VariantType.Double, "DoubleArray": ua.VariantType.Double,
          "StringArray": ua.VariantType.String}


@dataclass
class ServerConfig:
    """Everything ``twingym twin serve`` can set.

    Attributes:
        twin_id: registered twin id. seed, scenario, overrides, dt, baseline, faults: see
            :class:`LiveTwin`. speed: simulated seconds per wall second (``> 0``).
        host, port, path: the endpoint ``opc.tcp://host:port/path``.
        steps, duration: stop after this many steps / wall seconds (``None``: run until stopped).
        record: JSON-lines record file (default ``runs/live/<twin>-<time>/record.jsonl``).
        fsync: fsync the record after every step.
        record_state: include the twin state in every record line.
        failsafe_after: wall seconds without any client setpoint write (after a first one) that
            switch a ``remote`` twin to ``local`` control; ``None`` holds the setpoints forever.
        security: see :class:`SecurityConfig`.
    """

    twin_id: str
    seed: int = 0
    scenario: str = "nominal"
    overrides: dict[str, Any] = field(default_factory=dict)
    speed: float = 1.0
    dt: float | None = None
    baseline: str | None = None
    faults: list[Fault] = field(default_factory=list)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    path: str = DEFAULT_PATH
    steps: int | None = None
    duration: float | None = None
    record: str | None = None
    fsync: bool = True
    record_state: bool = True
    failsafe_after: float | None = None
    security: SecurityConfig = field(default_factory=SecurityConfig)

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"opc.tcp://{host}:{self.port}{path}"

    def record_path(self) -> Path:
        if self.record:
            return Path(self.record)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return Path("runs") / "live" / f"{self.twin_id}-{stamp}-{self.port}" / "record.jsonl"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["faults"] = [asdict(f) for f in self.faults]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerConfig:
        data = dict(data)
        data["faults"] = [Fault(**f) for f in data.get("faults", [])]
        data["security"] = SecurityConfig(**data.get("security", {}))
        return cls(**data)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad option."""
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed factor must be a finite number > 0, got {self.speed}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {self.steps}")
        if self.duration is not None and not self.duration > 0:
            raise ValueError(f"--duration must be > 0, got {self.duration}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")


@dataclass
class ServeSummary:
    """What a finished server run did."""

    endpoint: str
    steps: int
    episodes: int
    total_reward: float
    overruns: int
    record: str
    stopped_by: str
    skipped_publications: int = 0


def _dv(value: Any, vtype: ua.VariantType) -> ua.DataValue:
    now = datetime.now(UTC)
    return ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=now, ServerTimestamp=now)


class LiveTwinServer:
    """Serve ``config.twin_id`` until stopped. Use :meth:`run` inside an event loop.

    ``stop()`` (thread-safe) ends the run after the current step; the record gets a final
    ``stop`` line and ``Status`` reads ``stopped``.
    """

    def __init__(self, config: ServerConfig, log: Callable[[str], None] | None = None) -> None:
        config.check()
        self.config = config
        self.log = log or (lambda msg: None)
        self.plan: SecurityPlan = plan_security(config.host, config.port, config.security, APP_URI)
        if self.plan.warning:
            self.log(self.plan.warning)
        self.twin = LiveTwin(config.twin_id, seed=config.seed, scenario=config.scenario,
                             overrides=config.overrides, dt=config.dt, baseline=config.baseline,
                             faults=config.faults, record_state=config.record_state)
        self.server_id = uuid.uuid4().hex
        self.record_path = config.record_path()
        self._pending: dict[int, float] = {}
        self._pending_mode: str | None = None
        self._last_client_write: float | None = None
        self._inputs = threading.Lock()          # client writes (loop thread) vs the step (clock thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._stop_reason = "limit"
        self.steps_done = 0
        self.overruns = 0
        self.skipped_publications = 0
        self.ready = False
        self._detector = EventDetector([tuple(lb) for lb in self.twin.obs_labels],
                                       initial_mode=self.twin.mode, initial_obs=self.twin.obs)
        self._events: list[TwinEvent] = []      # detected in the clock thread, published by the loop
        self._notes: list[TwinEvent] = []       # raised by the server itself for the next step
        self._publisher = EventPublisher()

    # ---- control ---------------------------------------------------------------------------------
    def stop(self, reason: str = "stop") -> None:
        """Ask the run to end after the current step (safe from any thread or signal handler)."""
        self._stop_reason = reason
        self._stop.set()

    # ---- address space ---------------------------------------------------------------------------
    async def _build(self, server: Server, idx: int) -> None:
        twin = self.twin
        nid = lambda s: ua.NodeId(s, idx)  # noqa: E731
        root = await server.nodes.objects.add_object(nid(contract.ROOT), ua.QualifiedName("TwinGym", idx))
        self._ids: dict[str, ua.NodeId] = {}
        layout = contract.node_layout(twin.obs_labels, twin.act_labels)
        obs_nodes, set_nodes = layout.measurements, layout.setpoints
        applied, baseline = layout.applied, layout.baseline
        label = lambda lb: contract.label_text(lb.asset, lb.name, lb.unit)  # noqa: E731
        initial: dict[str, Any] = {
            "TwinId": twin.twin_id, "Scenario": twin.scenario, "Seed": twin.seed,
            "ServerId": self.server_id, "Status": "starting", "Step": 0, "Publishing": 0,
            "SimTime": 0.0, "Dt": twin.dt, "SpeedFactor": float(self.config.speed), "Episode": 0,
            "EpisodeStep": 0, "LastReward": 0.0, "LastCost": 0.0, "EpisodeReturn": 0.0,
            "LastEpisodeReturn": math.nan, "TotalReward": 0.0, "ControlMode": twin.mode,
            "BaselineName": twin.baseline_name or "", "ActionKind": twin.action_kind,
            "ActionLow": twin.action_low.tolist(), "ActionHigh": twin.action_high.tolist(),
            "ObservationNodes": obs_nodes, "ObservationLabels": [label(lb) for lb in twin.obs_labels],
            "SetpointNodes": set_nodes, "AppliedNodes": applied, "BaselineNodes": baseline,
            "ActionLabels": [label(lb) for lb in twin.act_labels], "Faults": "",
            "Schematic": json.dumps(twin.env.schematic(twin.params)),
        }
        for name, (tname, writable, desc) in contract.TWIN_VARIABLES.items():
            node = await root.add_variable(nid(contract.twin_node(name)), ua.QualifiedName(name, idx),
                                           ua.Variant(initial[name], _TYPES[tname]))
            await _describe(node, desc)
            if writable:
                await node.set_writable()
            self._ids[name] = node.nodeid

        assets: dict[str, Any] = {}
        groups: dict[tuple[str, str], Any] = {}

        async def group(asset: str, gname: str):
            if asset not in assets:
                obj = await root.add_object(nid(contract.asset_node(asset)), ua.QualifiedName(asset, idx))
                assets[asset] = obj
                for var, value in (("Status", "ok"), ("SetpointSource", "initial")):
                    node = await obj.add_variable(nid(contract.asset_node(asset, var)),
                                                  ua.QualifiedName(var, idx), ua.Variant(value, ua.VariantType.String))
                    self._ids[contract.asset_node(asset, var)] = node.nodeid
            if (asset, gname) not in groups:
                groups[(asset, gname)] = await assets[asset].add_object(
                    nid(contract.asset_node(asset, gname)), ua.QualifiedName(gname, idx))
            return groups[(asset, gname)]

        async def variable(asset: str, gname: str, node_id: str, name: str, value: float, unit: str,
                           writable: bool, bounds: tuple[float, float]):
            parent = await group(asset, gname)
            node = await parent.add_variable(nid(node_id), ua.QualifiedName(name, idx),
                                             ua.Variant(float(value), ua.VariantType.Double))
            await _add_information(node, idx, variable_info(twin.twin_id, asset, gname, name, unit, *bounds))
            if writable:
                await node.set_writable()
            self._ids[node_id] = node.nodeid

        obs_low, obs_high = _flat_bounds(twin.obs_space)
        for k, (lb, node_id, value) in enumerate(zip(twin.obs_labels, obs_nodes, twin.obs, strict=True)):
            await variable(lb.asset, "Measurements", node_id, lb.name, value, lb.unit, False,
                           (obs_low[k], obs_high[k]))
        for i, lb in enumerate(twin.act_labels):
            sp = float(twin.setpoints[i])
            bounds = (float(twin.action_low[i]), float(twin.action_high[i]))
            await variable(lb.asset, "Setpoints", set_nodes[i], lb.name, sp, lb.unit, True, bounds)
            await variable(lb.asset, "Applied", applied[i], lb.name, sp, lb.unit, False, bounds)
            await variable(lb.asset, "Baseline", baseline[i], lb.name, float(twin.baseline_action[i]),
                           lb.unit, False, bounds)
        self._obs_ids = [self._ids[n] for n in obs_nodes]
        self._applied_ids = [self._ids[n] for n in applied]
        self._baseline_ids = [self._ids[n] for n in baseline]
        self._setpoint_index = {self._ids[n]: i for i, n in enumerate(set_nodes)}
        self._obs_assets = [lb.asset for lb in twin.obs_labels]
        self._act_assets = [lb.asset for lb in twin.act_labels]
        self._assets = list(assets)
        integer = twin.action_kind != "box"
        self._gate = WriteGate(
            {self._ids[n]: SetpointRule(float(twin.action_low[i]), float(twin.action_high[i]), integer)
             for i, n in enumerate(set_nodes)},
            {self._ids["ControlMode"]: CONTROL_MODES}, idx)
        await self._publisher.setup(server, idx, root, {a: obj.nodeid for a, obj in assets.items()})

    def _on_write(self, event: Any, dispatcher: Any) -> None:
        """PostWrite hook: remember good client writes to setpoints and ControlMode."""
        if not getattr(event, "is_external", False):
            return
        results = event.response_params or []
        for wv, status in zip(event.request_params.NodesToWrite, results, strict=False):
            if not status.is_good() or wv.AttributeId != ua.AttributeIds.Value:
                continue
            value = wv.Value.Value.Value if wv.Value is not None and wv.Value.Value is not None else None
            if wv.NodeId in self._setpoint_index:
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    continue
                with self._inputs:
                    self._pending[self._setpoint_index[wv.NodeId]] = number
                    self._last_client_write = time.monotonic()
            elif wv.NodeId == self._ids["ControlMode"]:
                with self._inputs:
                    self._pending_mode = str(value)

    async def _write(self, server: Server, node_id: ua.NodeId, value: Any, vtype: ua.VariantType) -> None:
        await server.write_attribute_value(node_id, _dv(value, vtype))

    async def _publish(self, server: Server, out: StepOutcome) -> None:
        if out.frozen:
            await self._write(server, self._ids["Faults"], ",".join(out.faults), ua.VariantType.String)
            return
        D, S, I = ua.VariantType.Double, ua.VariantType.String, ua.VariantType.Int64  # noqa: E741
        await self._write(server, self._ids["Publishing"], out.step, I)
        for node_id, value in zip(self._obs_ids, out.published, strict=True):
            await self._write(server, node_id, float(value), D)
        for node_id, value in zip(self._applied_ids, out.action, strict=True):
            await self._write(server, node_id, float(value), D)
        for node_id, value in zip(self._baseline_ids, out.baseline_action, strict=True):
            await self._write(server, node_id, float(value), D)
        nan_assets = {a for a, v in zip(self._obs_assets, out.published, strict=True) if not math.isfinite(v)}
        for asset in self._assets:
            key = contract.asset_node(asset, "Status")
            await self._write(server, self._ids[key], "nan" if asset in nan_assets else "ok", S)
            srcs = {s for a, s in zip(self._act_assets, out.source, strict=True) if a == asset}
            await self._write(server, self._ids[contract.asset_node(asset, "SetpointSource")],
                              ",".join(sorted(srcs)) or "-", S)
        values = {"SimTime": (out.sim_time, D), "Episode": (out.episode, I),
                  "EpisodeStep": (out.episode_step, I), "LastReward": (out.reward, D),
                  "LastCost": (out.cost, D), "EpisodeReturn": (out.episode_return, D),
                  "LastEpisodeReturn": (math.nan if out.last_episode_return is None
                                        else out.last_episode_return, D),
                  "TotalReward": (out.total_reward, D), "ControlMode": (out.mode, S),
                  "Faults": (",".join(out.faults), S), "Status": ("running", S)}
        for name, (value, vtype) in values.items():
            await self._write(server, self._ids[name], value, vtype)
        await self._write(server, self._ids["Step"], out.step, I)

    async def _publish_events(self) -> None:
        with self._inputs:
            events, self._events = self._events, []
        for event in events:
            await self._publisher.publish(event)

    async def _make_server(self) -> tuple[Server, int]:
        sec = self.config.security
        user_manager = (PasswordUserManager(sec.username, sec.password, LoginThrottle(log=self.log))
                        if sec.username else None)
        server = Server(user_manager=user_manager)
        await server.init()
        server.set_endpoint(self.config.endpoint)
        server.set_server_name(f"twingym live twin {self.twin.twin_id}")
        await server.set_application_uri(APP_URI)
        if self.plan.cert is not None and self.plan.key is not None:
            await server.load_certificate(str(self.plan.cert))
            await server.load_private_key(str(self.plan.key))
        server.set_security_policy(self.plan.policies)
        self.channel_gate = enforce_offered_channels(server, self.plan)
        server.set_identity_tokens(self.plan.tokens)
        idx = await server.register_namespace(contract.NAMESPACE_URI)
        return server, idx

    # ---- the run ---------------------------------------------------------------------------------
    async def run(self, on_ready: Callable[[str], None] | None = None) -> ServeSummary:
        """Serve until stopped or a limit is reached; return a :class:`ServeSummary`."""
        self._loop = asyncio.get_running_loop()
        cfg, twin = self.config, self.twin
        server, idx = await self._make_server()
        await self._build(server, idx)
        self._gate.install(server)
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
        recorder = StepRecorder(self.record_path, fsync=cfg.fsync)
        recorder.write({"event": "start", "wall_time": time.time(), "server_id": self.server_id,
                        "endpoint": cfg.endpoint, "twin_id": twin.twin_id, "scenario": twin.scenario,
                        "seed": twin.seed, "dt": twin.dt, "speed": cfg.speed,
                        "baseline": twin.baseline_name,
                        "observation_labels": [list(lb) for lb in twin.obs_labels],
                        "action_labels": [list(lb) for lb in twin.act_labels],
                        "initial_setpoints": twin.setpoints.tolist(),
                        "faults": [asdict(f) for f in cfg.faults]})
        wake = asyncio.Event()                   # set from the clock thread: a new step, or the end
        latest: list[StepOutcome] = []           # the newest step not published yet
        failure: list[BaseException] = []
        finished = False

        def hand_over(out: StepOutcome) -> None:  # runs in the loop thread
            if latest:
                self.skipped_publications += 1
                latest[0] = out
            else:
                latest.append(out)
            wake.set()

        def clock_ended() -> None:
            nonlocal finished
            finished = True
            wake.set()

        def clock() -> None:
            try:
                self._clock(recorder, lambda out: self._loop.call_soon_threadsafe(hand_over, out))
            except BaseException as exc:  # re-raised by run() in the loop thread
                failure.append(exc)
            finally:
                self._loop.call_soon_threadsafe(clock_ended)

        try:
            async with server:
                require_gate(server, self.channel_gate)
                await self._write(server, self._ids["Status"], "running", ua.VariantType.String)
                self.ready = True
                if on_ready is not None:
                    on_ready(cfg.endpoint)
                self.log(f"serving {twin.twin_id} ({twin.scenario}) on {cfg.endpoint}, "
                         f"dt {twin.dt:g} s, speed x{cfg.speed:g}, record {self.record_path}")
                self.log("security: " + self.plan.describe())
                thread = threading.Thread(target=clock, name=f"twingym-clock-{cfg.port}", daemon=True)
                thread.start()
                try:
                    while not finished:
                        await wake.wait()
                        wake.clear()
                        while latest:
                            await self._publish(server, latest.pop())
                        await self._publish_events()
                finally:
                    self._stop.set()
                    await asyncio.to_thread(thread.join)
                if failure:
                    raise failure[0]
                await self._write(server, self._ids["Status"], "stopped", ua.VariantType.String)
        finally:
            recorder.write({"event": "stop", "wall_time": time.time(), "server_id": self.server_id,
                            "steps": self.steps_done, "reason": self._stop_reason,
                            "overruns": self.overruns, "skipped_publications": self.skipped_publications})
            recorder.close()
            self.ready = False
        return ServeSummary(endpoint=cfg.endpoint, steps=self.steps_done, episodes=twin.episode,
                            total_reward=twin.total_reward, overruns=self.overruns,
                            record=str(self.record_path), stopped_by=self._stop_reason,
                            skipped_publications=self.skipped_publications)

    def _clock(self, recorder: StepRecorder, publish: Callable[[StepOutcome], None]) -> None:
        """The twin's clock (own thread): every period take the inputs, step, record, hand over."""
        cfg = self.config
        period = self.twin.dt / cfg.speed
        start = time.monotonic()
        deadline = start + period
        while True:
            if cfg.steps is not None and self.steps_done >= cfg.steps:
                self._stop_reason = "steps"
                return
            if cfg.duration is not None and time.monotonic() - start >= cfg.duration:
                self._stop_reason = "duration"
                return
            if self._stop.wait(max(0.0, deadline - time.monotonic())):
                return
            out = self._step_once()
            with self._inputs:
                notes, self._notes = self._notes, []
            events = self._detector.detect(out, notes)
            if events:
                with self._inputs:
                    self._events.extend(events)
            recorder.write(self.twin.record_line(out))
            publish(out)
            self.steps_done += 1
            deadline += period
            now = time.monotonic()
            if now > deadline + period:   # fell more than a step behind: do not catch up
                self.overruns += 1
                deadline = now + period

    def _step_once(self) -> StepOutcome:
        cfg, twin = self.config, self.twin
        with self._inputs:
            written, self._pending = self._pending, {}
            mode, self._pending_mode = self._pending_mode, None
            last_write = self._last_client_write
        if mode in ("remote", "local"):
            twin.set_mode(mode)
        if (cfg.failsafe_after is not None and twin.mode == "remote" and last_write is not None
                and time.monotonic() - last_write > cfg.failsafe_after):
            twin.set_mode("local")
            with self._inputs:
                self._last_client_write = None
            message = f"no setpoint written for {cfg.failsafe_after:g} s: switched to local control"
            self.log(message)
            with self._inputs:
                self._notes.append(TwinEvent("Fallback", "", twin.step_count + 1, message))
        return twin.step(written)


async def _describe(node: Any, text: str) -> None:
    await node.write_attribute(ua.AttributeIds.Description,
                               ua.DataValue(ua.Variant(ua.LocalizedText(text), ua.VariantType.LocalizedText)))


async def _add_information(node: Any, idx: int, info: Any) -> None:
    """Description attribute plus the ``EngineeringUnits``, ``EURange`` and ``IEC61400_25``
    properties of one variable (an :class:`information_model.VariableInfo`)."""
    await _describe(node, info.description)
    base = node.nodeid.Identifier
    await node.add_property(ua.NodeId(f"{base}#EngineeringUnits", idx), ua.QualifiedName("EngineeringUnits", 0),
                            ua.Variant(info.units, ua.VariantType.ExtensionObject))
    if info.range is not None:
        await node.add_property(ua.NodeId(f"{base}#EURange", idx), ua.QualifiedName("EURange", 0),
                                ua.Variant(info.range, ua.VariantType.ExtensionObject))
    if info.iec_name:
        await node.add_property(ua.NodeId(f"{base}#IEC61400_25", idx), ua.QualifiedName("IEC61400_25", idx),
                                ua.Variant(info.iec_name, ua.VariantType.String))


def _flat_bounds(space: Any) -> tuple[list[float], list[float]]:
    """Flattened (low, high) of a twin space, ±inf where a bound is absent."""
    n = int(np.prod(space.shape)) if space.shape else 1
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or high is None:
        bounds = contract.space_bounds(contract.space_to_json(space))
        return bounds.low.tolist(), bounds.high.tolist()
    return (np.broadcast_to(np.asarray(low, float), space.shape).reshape(n).tolist(),
            np.broadcast_to(np.asarray(high, float), space.shape).reshape(n).tolist())


def serve(config: ServerConfig, log: Callable[[str], None] | None = print,
          handle_signals: bool = True, on_ready: Callable[[str], None] | None = None) -> ServeSummary:
    """Run a server in this thread until a limit, SIGINT or SIGTERM; return its summary.

    ``on_ready(endpoint)`` is called once the endpoint accepts connections.
    """
    import signal
    import threading

    server = LiveTwinServer(config, log=log)

    async def main() -> ServeSummary:
        if handle_signals and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, server.stop, signal.Signals(sig).name)
        return await server.run(on_ready=on_ready)

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    return asyncio.run(main())
