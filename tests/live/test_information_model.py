"""The live twin's information model read by a generic OPC UA client (asyncua's client API, no
twingym code on the client side): units, ranges, descriptions, write status codes, events."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace

import pytest
from asyncua import Client, ua
from twingym.envs import make
from twingym.live.events import EventDetector
from twingym.live.information_model import (
    IEC_61400_25,
    UNECE_CODES,
    UNECE_NAMESPACE,
    unit_id,
    variable_info,
)


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _browse_variables(client: Client) -> dict[str, object]:
    """Every variable under Objects reachable by hierarchical references, by browse path."""
    found: dict[str, object] = {}

    async def walk(node, path: str, depth: int) -> None:
        for child in await node.get_children():
            name = (await child.read_browse_name()).Name
            if name == "Server":
                continue
            if await child.read_node_class() == ua.NodeClass.Variable:
                found[f"{path}/{name}"] = child
            elif depth < 6:
                await walk(child, f"{path}/{name}", depth + 1)

    await walk(client.nodes.objects, "", 0)
    return found



async def _write_status(node, value, vtype) -> str:
    try:
        await node.write_value(ua.DataValue(ua.Variant(value, vtype)))
    except ua.UaStatusCodeError as exc:
        return type(exc).__name__
    return "Good"


def test_unit_ids_follow_the_opc_ua_unece_rule():
    assert unit_id("C62") == 4404786          # "one", as in the OPC Foundation's UNECE table
    assert unit_id("MAW") == 0x4D4157 and unit_id("DD") == 0x4444
    info = variable_info("WindFarm-v0", "turbine_0", "Measurements", "power", "MW", 0.0, 10.0)
    assert info.units.UnitId == unit_id("MAW") and info.iec_name == "WTUR.W"
    assert "IEC 61400-25-2 WTUR.W" in info.description and info.range.High == 10.0


def test_iec_names_refer_to_variables_the_wind_twins_publish():
    for twin_id in {t for t, _ in IEC_61400_25}:
        env, params = make(twin_id)
        names = {lb.name for lb in env.observation_labels(params) + env.action_labels(params)}
        assert {n for t, n in IEC_61400_25 if t == twin_id} <= names


def test_a_generic_client_reads_units_ranges_descriptions_and_write_codes(serve_thread):
    handle = serve_thread(speed=20.0)
    env, params = make("ToyTank-v0")
    space = env.observation_space(params)

    async def check():
        async with Client(handle.endpoint) as client:
            variables = await _browse_variables(client)
            analog = {p: n for p, n in variables.items()
                      if any(f"/{g}/" in p for g in ("Measurements", "Setpoints", "Applied", "Baseline"))
                      and p.rsplit("/", 1)[1] not in ("EngineeringUnits", "EURange", "IEC61400_25")}
            n_obs, n_act = len(env.observation_labels(params)), len(env.action_labels(params))
            assert len(analog) == n_obs + 3 * n_act, sorted(analog)
            for path, node in analog.items():
                description = (await node.read_description()).Text
                assert description and path.rsplit("/", 1)[1] in description.replace(" ", "_"), path
                eu = await (await node.get_child(["0:EngineeringUnits"])).read_value()
                assert eu.NamespaceUri == UNECE_NAMESPACE
                assert eu.UnitId == unit_id(UNECE_CODES[eu.DisplayName.Text][0]), (path, eu)
                rng = await (await node.get_child(["0:EURange"])).read_value()
                assert rng.Low < rng.High
            level = variables["/TwinGym/tank/Measurements/level"]
            rng = await (await level.get_child(["0:EURange"])).read_value()
            assert (rng.Low, rng.High) == (float(space.low[0]), float(space.high[0]))

            valve = variables["/TwinGym/tank/Setpoints/valve"]
            codes = {
                "float": await _write_status(valve, 0.25, ua.VariantType.Float),
                "int": await _write_status(valve, 1, ua.VariantType.Int32),
                "byte": await _write_status(valve, 0, ua.VariantType.Byte),
                "nan": await _write_status(valve, math.nan, ua.VariantType.Double),
                "above": await _write_status(valve, 1.5, ua.VariantType.Double),
                "text": await _write_status(valve, "open", ua.VariantType.String),
                "measurement": await _write_status(level, 1.0, ua.VariantType.Double),
                "mode": await _write_status(variables["/TwinGym/ControlMode"], "auto", ua.VariantType.String),
            }
            assert codes == {"float": "Good", "int": "Good", "byte": "Good", "nan": "BadOutOfRange",
                             "above": "BadOutOfRange", "text": "BadTypeMismatch",
                             "measurement": "BadNotWritable", "mode": "BadOutOfRange"}
            await _write_status(valve, 0.25, ua.VariantType.Float)
            applied = variables["/TwinGym/tank/Applied/valve"]
            for _ in range(400):
                if await applied.read_value() == pytest.approx(0.25):
                    break
                await asyncio.sleep(0.01)
            assert await applied.read_value() == pytest.approx(0.25), "a Float write is applied as a Double"
    run(check())


def test_an_event_subscription_receives_mode_changes(serve_thread):
    """Both directions of a ControlMode write raise a ModeChange event, including a write that lands
    before the twin's first step (a slow clock: one step per 2 s), which the detector must compare
    with the mode the server started in."""
    handle = serve_thread(speed=0.5)

    class Collect:
        def __init__(self) -> None:
            self.events: list = []

        def event_notification(self, event) -> None:
            self.events.append(event)

    async def wait_for(sink: Collect, count: int) -> None:
        for _ in range(3000):  # the clock thread raises it at the twin's next step
            if len(sink.events) >= count:
                return
            await asyncio.sleep(0.01)

    async def check():
        async with Client(handle.endpoint) as client:
            idx = await client.get_namespace_index("urn:twingym:live")
            etype = await client.nodes.base_event_type.get_child([f"{idx}:TwinModeChangeEventType"])
            sink = Collect()
            sub = await client.create_subscription(20, sink)
            await sub.subscribe_events(client.nodes.server, etype)
            mode = client.get_node(ua.NodeId("twingym/ControlMode", idx))
            await mode.write_value(ua.DataValue(ua.Variant("local", ua.VariantType.String)))
            await wait_for(sink, 1)
            await mode.write_value(ua.DataValue(ua.Variant("remote", ua.VariantType.String)))
            await wait_for(sink, 2)
            return sink.events
    events = run(check(), timeout=90.0)
    assert len(events) == 2, f"expected 2 mode-change events within 30 s each, got {len(events)}"
    assert "remote -> local" in events[0].Message.Text and events[0].Severity == 300
    assert "local -> remote" in events[1].Message.Text


def test_event_detector_reports_trips_limits_and_fallbacks():
    labels = [("line_3", "loading", "1"), ("line_3", "in_service", "1")]
    detector = EventDetector(labels)

    def outcome(step, obs, cost=0.0, terminated=False, faults=(), rejected=(), mode="remote"):
        return SimpleNamespace(step=step, obs=obs, cost=cost, terminated=terminated, episode=0,
                               faults=list(faults), rejected=list(rejected), mode=mode)

    assert detector.detect(outcome(1, [0.5, 1.0])) == []
    kinds = [(e.kind, e.asset) for e in detector.detect(outcome(2, [1.6, 0.0], cost=0.6))]
    assert kinds == [("Trip", "line_3"), ("LimitViolation", "")]
    kinds = [e.kind for e in detector.detect(outcome(3, [0.0, 0.0], faults=["nan@3:2"], rejected=[0]))]
    assert kinds == ["LimitViolationCleared", "Fallback", "Fallback"]
    kinds = [e.kind for e in detector.detect(outcome(4, [0.0, 0.0], terminated=True, mode="local",
                                                     faults=["nan@3:2"]))]
    assert kinds == ["Trip", "ModeChange"]
    # seeded with the state before the first step, the first step's trip and mode change are reported
    seeded = EventDetector(labels, initial_mode="remote", initial_obs=[0.5, 1.0])
    kinds = [(e.kind, e.asset) for e in seeded.detect(outcome(1, [0.5, 0.0], mode="local"))]
    assert kinds == [("Trip", "line_3"), ("ModeChange", "")]
