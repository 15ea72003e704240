"""OPC UA events of the live twin: trips, limit violations, fallbacks and control-mode changes.

:class:`EventDetector` (no OPC UA, one call per step in the twin's clock thread, so no step is
missed however slowly the server publishes) turns consecutive :class:`StepOutcome` s into
:class:`TwinEvent` s:

- ``Trip`` (severity 800): an asset's ``in_service`` measurement falls to 0 (a power line or
  transformer tripped), its ``is_failed`` rises to 1 (a station broke down), or the episode
  terminates (an overspeed shutdown, a blackout);
- ``LimitViolation`` (600): the step's constraint cost (``info["cost"]``) becomes positive, and
  ``LimitViolationCleared`` (300) when it returns to 0;
- ``Fallback`` (700): the twin stops following clients: a setpoint write was refused, the
  watchdog switched to local control, or an injected fault corrupts the published data;
- ``ModeChange`` (300): ``ControlMode`` changed (``remote`` <-> ``local``), with the reason.

:class:`EventPublisher` declares one OPC UA event type per kind (subtypes of ``BaseEventType`` in
the twin's namespace, with ``Asset``, ``Step`` and ``Kind`` properties) and triggers each event
from both the Server object (where an operator's client subscribes for everything) and the twin's
root object, with the asset's object as ``SourceNode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from asyncua import ua

#: kind -> (OPC UA event type browse name, severity 1..1000)
EVENT_TYPES: dict[str, tuple[str, int]] = {
    "Trip": ("TwinTripEventType", 800),
    "LimitViolation": ("TwinLimitViolationEventType", 600),
    "LimitViolationCleared": ("TwinLimitViolationEventType", 300),
    "Fallback": ("TwinFallbackEventType", 700),
    "ModeChange": ("TwinModeChangeEventType", 300),
}


@dataclass(frozen=True)
class TwinEvent:
    """One event: ``kind`` (a key of :data:`EVENT_TYPES`), the ``asset`` it concerns ('' for the
    twin as a whole), the global ``step`` and a one-line ``message``."""

    kind: str
    asset: str
    step: int
    message: str

    @property
    def severity(self) -> int:
        return EVENT_TYPES[self.kind][1]


class EventDetector:
    """Events of each step from the step's outcome and the previous one.

    Args:
        obs_labels: ``(asset, name, unit)`` per observation component.
        initial_mode: the control mode before the first step (``"remote"`` or ``"local"``); a mode
            written before the first step is then reported at that step. ``None``: the first step's
            mode is taken as the start, and no change is reported for it.
        initial_obs: the observation before the first step (the reset's, shape ``(n_obs,)``), so a
            trip on the first step is reported; ``None``: trips are detected from the second step.
    """

    def __init__(self, obs_labels: list[tuple[str, str, str]], initial_mode: str | None = None,
                 initial_obs: np.ndarray | None = None) -> None:
        self._falling = [i for i, (_, name, _) in enumerate(obs_labels) if name == "in_service"]
        self._rising = [i for i, (_, name, _) in enumerate(obs_labels) if name == "is_failed"]
        self._assets = [asset for asset, _, _ in obs_labels]
        self._previous_obs = None if initial_obs is None else np.asarray(initial_obs, dtype=float).ravel()
        self._violating = False
        self._mode = initial_mode
        self._faults: set[str] = set()

    def detect(self, out: Any, notes: list[TwinEvent] | None = None) -> list[TwinEvent]:
        """Events of ``out`` (a ``StepOutcome``); ``notes`` are events the server itself raised
        for this step (a watchdog fallback), kept in order before the detected ones."""
        events = list(notes or [])
        obs = np.asarray(out.obs, dtype=float)
        if self._previous_obs is not None:
            for i in self._falling:
                if self._previous_obs[i] >= 0.5 > obs[i]:
                    events.append(TwinEvent("Trip", self._assets[i], out.step, f"{self._assets[i]} tripped"))
            for i in self._rising:
                if self._previous_obs[i] < 0.5 <= obs[i]:
                    events.append(TwinEvent("Trip", self._assets[i], out.step, f"{self._assets[i]} failed"))
        if out.terminated:
            events.append(TwinEvent("Trip", "", out.step,
                                    f"episode {out.episode} terminated (shutdown or blackout) at step {out.step}"))
        violating = math.isfinite(out.cost) and out.cost > 0
        if violating and not self._violating:
            events.append(TwinEvent("LimitViolation", "", out.step, f"constraint cost {out.cost:.4g} > 0"))
        elif self._violating and not violating:
            events.append(TwinEvent("LimitViolationCleared", "", out.step, "constraint cost back to 0"))
        self._violating = violating
        if out.rejected:
            events.append(TwinEvent("Fallback", "", out.step,
                                    f"setpoints {out.rejected} refused (non-finite): previous values held"))
        faults = set(out.faults)
        for fault in sorted(faults - self._faults):
            events.append(TwinEvent("Fallback", "", out.step, f"fault {fault} active on the published data"))
        self._faults = faults
        if self._mode is not None and out.mode != self._mode:
            reason = next((n.message for n in events if n.kind == "Fallback" and "local" in n.message),
                          "ControlMode written by a client")
            events.append(TwinEvent("ModeChange", "", out.step, f"control mode {self._mode} -> {out.mode} ({reason})"))
        self._mode = out.mode
        self._previous_obs = obs
        return events


class EventPublisher:
    """Declares the event types and triggers :class:`TwinEvent` s on an asyncua server."""

    def __init__(self) -> None:
        self._generators: dict[str, list[Any]] = {}
        self._sources: dict[str, ua.NodeId] = {}

    async def setup(self, server: Any, idx: int, root: Any, assets: dict[str, ua.NodeId]) -> None:
        """Create the event types in namespace ``idx``; ``root`` is the twin's object, ``assets``
        maps asset names to their object node ids (the events' SourceNode)."""
        props = [("Asset", ua.VariantType.String), ("Step", ua.VariantType.Int64), ("Kind", ua.VariantType.String)]
        types: dict[str, Any] = {}
        for type_name, _ in EVENT_TYPES.values():
            if type_name not in types:
                types[type_name] = await server.create_custom_event_type(
                    idx, type_name, ua.ObjectIds.BaseEventType, props)
        await server.nodes.server.add_reference(root.nodeid, ua.ObjectIds.HasNotifier)
        for kind, (type_name, _) in EVENT_TYPES.items():
            self._generators[kind] = [await server.get_event_generator(types[type_name], emitter)
                                      for emitter in (ua.ObjectIds.Server, root.nodeid)]
        self._sources = {"": root.nodeid, **assets}

    async def publish(self, event: TwinEvent) -> None:
        source = self._sources.get(event.asset, self._sources[""])
        for generator in self._generators[event.kind]:
            ev = generator.event
            ev.SourceNode = source
            ev.SourceName = event.asset or "twin"
            ev.Severity = event.severity
            ev.Asset = event.asset
            ev.Step = int(event.step)
            ev.Kind = event.kind
            await generator.trigger(message=event.message)
