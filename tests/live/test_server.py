"""The live twin over OPC UA on loopback: address space, setpoint semantics, record, security."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from asyncua import Client, ua
from twingym.envs import make
from twingym.live import SecurityConfig, read_record
from twingym.live.contract import NAMESPACE_URI


def run(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _node(client: Client, identifier: str):
    idx = await client.get_namespace_index(NAMESPACE_URI)
    return client.get_node(ua.NodeId(identifier, idx))


async def _wait_step(client: Client, after: int, timeout: float = 10.0) -> int:
    step = await _node(client, "twingym/Step")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await step.read_value()
        if value > after:
            return value
        await asyncio.sleep(0.005)
    raise TimeoutError(f"twin did not pass step {after}")


def test_address_space_is_built_from_the_twin_labels(shared_server):
    handle = shared_server
    env, params = make("ToyTank-v0")

    async def check():
        async with Client(handle.endpoint) as client:
            idx = await client.get_namespace_index(NAMESPACE_URI)
            root = client.get_node(ua.NodeId("twingym", idx))
            children = {(await c.read_browse_name()).Name for c in await root.get_children()}
            assert {"tank", "twin", "Step", "SimTime", "Scenario", "Episode", "ControlMode"} <= children
            tank = client.get_node(ua.NodeId("a/tank", idx))
            groups = {(await c.read_browse_name()).Name for c in await tank.get_children()}
            assert {"Measurements", "Setpoints", "Applied", "Baseline", "Status", "SetpointSource"} <= groups
            meas = client.get_node(ua.NodeId("a/tank/Measurements", idx))
            names = sorted([(await c.read_browse_name()).Name for c in await meas.get_children()])
            assert names == ["level", "reference"]
            level = client.get_node(ua.NodeId("a/tank/Measurements/level", idx))
            unit = await level.get_child(["0:EngineeringUnits"])
            assert (await unit.read_value()).DisplayName.Text == "m"
            labels = await (await _node(client, "twingym/ObservationLabels")).read_value()
            assert labels == [f"{lb.asset}/{lb.name} [{lb.unit}]" for lb in env.observation_labels(params)]
            assert await (await _node(client, "twingym/TwinId")).read_value() == "ToyTank-v0"
            assert await (await _node(client, "twingym/Scenario")).read_value() == "nominal"
            # measurements are read-only, setpoints writable
            with pytest.raises(ua.UaStatusCodeError):
                await level.write_value(ua.DataValue(ua.Variant(1.0, ua.VariantType.Double)))
    run(check())


def test_setpoints_apply_from_the_next_step_are_held_and_recorded(shared_server):
    handle = shared_server

    async def drive():
        async with Client(handle.endpoint) as client:
            valve = await _node(client, "a/tank/Setpoints/valve")
            step = await _wait_step(client, 2)
            await valve.write_value(ua.DataValue(ua.Variant(0.8, ua.VariantType.Double)))
            written_after = step
            await _wait_step(client, step + 4)
            applied = await (await _node(client, "a/tank/Applied/valve")).read_value()
            source = await (await _node(client, "a/tank/SetpointSource")).read_value()
            return written_after, applied, source
    written_after, applied, source = run(drive())
    time.sleep(0.3)                       # let the record writer catch up
    assert applied == pytest.approx(0.8) and source == "held"
    steps = [r for r in read_record(handle.record_path) if r["event"] == "step"]
    by_step = {r["step"]: r for r in steps}
    assert all(by_step[k]["source"] == ["initial"] for k in range(1, written_after + 1))
    steps = [r for r in steps if r["mode"] == "remote"]
    client_steps = [r["step"] for r in steps if r["source"] == ["client"]]
    assert len(client_steps) == 1 and client_steps[0] > written_after     # applied from a later step
    after = [r for r in steps if r["step"] > client_steps[0]]
    assert after and all(r["source"] == ["held"] and r["action"] == [0.8] for r in after)
    # the record holds state, observation and reward of every step, in order, crash-safe JSON
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))
    assert {"state", "obs", "reward", "cost", "sim_time", "episode"} <= set(steps[-1])
    assert steps[-1]["state"][".level"] == pytest.approx(steps[-1]["obs"][0], abs=0.1)


def test_local_mode_hands_control_to_the_twins_baseline(shared_server):
    handle = shared_server       # runs after the remote-mode tests of this module

    async def drive():
        async with Client(handle.endpoint) as client:
            mode = await _node(client, "twingym/ControlMode")
            await mode.write_value(ua.DataValue(ua.Variant("local", ua.VariantType.String)))
            step = await _wait_step(client, 0)
            await _wait_step(client, step + 3)
            source = await (await _node(client, "a/tank/SetpointSource")).read_value()
            await mode.write_value(ua.DataValue(ua.Variant("remote", ua.VariantType.String)))
            return source
    assert run(drive()) == "local"
    time.sleep(0.3)
    env, params = make("ToyTank-v0")
    steps = [r for r in read_record(handle.record_path) if r["event"] == "step"]
    local = [r for r in steps if r["mode"] == "local"]
    assert len(local) >= 3
    previous = {r["step"]: r for r in steps}
    for r in local[1:]:
        obs = np.asarray(previous[r["step"] - 1]["obs"], np.float32)
        expected, _ = env.baselines()["p_control"].act((), obs, params)
        np.testing.assert_allclose(r["action"], np.asarray(expected), rtol=1e-5)


def test_credentials_refuse_anonymous_and_wrong_passwords_and_sign_encrypt_works(serve_thread, tmp_path):
    from twingym.policies.deploy import ClientSecurity, TwinLink

    handle = serve_thread(speed=5.0, security=SecurityConfig(
        username="operator", password="s3cret", generate_certs=str(tmp_path / "srv")))
    assert (tmp_path / "srv" / "server-cert.der").is_file()

    async def login(user, password):
        client = Client(handle.endpoint, timeout=5)
        if user is not None:
            client.set_user(user)
            client.set_password(password)
        try:
            await client.connect()
        except Exception as exc:  # refused: asyncua raises a UA status error
            return type(exc).__name__
        try:
            return await (await _node(client, "twingym/TwinId")).read_value()
        finally:
            await client.disconnect()

    assert run(login("operator", "wrong")) in ("BadUserAccessDenied", "BadIdentityTokenRejected")
    assert run(login("intruder", "s3cret")) == "BadUserAccessDenied"
    assert run(login(None, None)) in ("BadIdentityTokenRejected", "BadUserAccessDenied")
    assert run(login("operator", "s3cret")) == "ToyTank-v0"

    async def connect(security):
        link = TwinLink(handle.endpoint, security)
        try:
            return (await link.connect()).twin_id
        finally:
            await link.close()

    encrypted = ClientSecurity(username="operator", password="s3cret", mode="sign_encrypt",
                               generate_certs=str(tmp_path / "cli"))
    assert run(connect(encrypted)) == "ToyTank-v0"
    signed = ClientSecurity(username="operator", password="s3cret", mode="sign",
                            generate_certs=str(tmp_path / "cli"))
    assert run(connect(signed)) == "ToyTank-v0"
    from twingym.policies.deploy import LinkError
    with pytest.raises(LinkError, match="refused"):
        run(connect(ClientSecurity(username="operator", password="nope", mode="sign_encrypt",
                                   generate_certs=str(tmp_path / "cli"))))


def test_sign_encrypt_server_refuses_none_and_sign_channels_before_any_login(serve_thread, tmp_path):
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
    from twingym.live.security import generate_certificate

    handle = serve_thread(speed=5.0, security=SecurityConfig(
        username="operator", password="s3cret", mode="sign_encrypt", generate_certs=str(tmp_path / "srv")))
    cert, key = generate_certificate(tmp_path / "cli", "127.0.0.1", "urn:twingym:test:client", "client")
    server_cert = str(tmp_path / "srv" / "server-cert.der")

    async def open_channel(mode):
        """A raw client: socket, hello, OpenSecureChannel in ``mode``; then a session only if it opened."""
        client = Client(handle.endpoint, timeout=3)
        client.set_user("operator")
        client.set_password("s3cret")
        if mode is not None:
            await client.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                                      server_certificate=server_cert, mode=mode)
        try:
            await client.connect_socket()
            await client.send_hello()
            await client.open_secure_channel()
        except Exception:
            client.disconnect_socket()
            return "channel refused"
        try:
            await client.create_session()
            await client.activate_session(username="operator", password="s3cret")
            return await (await _node(client, "twingym/TwinId")).read_value()
        finally:
            await client.disconnect()

    gate = handle.server.channel_gate
    assert run(open_channel(None)) == "channel refused"   # the password would travel in clear text
    assert gate.refused >= 1
    assert run(open_channel(ua.MessageSecurityMode.Sign)) == "channel refused"
    assert run(open_channel(ua.MessageSecurityMode.SignAndEncrypt)) == "ToyTank-v0"


def test_repeated_failed_logins_are_slowed_down_without_blocking():
    from twingym.live.security import LoginThrottle, PasswordUserManager

    now = [100.0]
    logs: list[str] = []
    users = PasswordUserManager("operator", "s3cret", LoginThrottle(free_failures=3, initial_delay=1.0,
                                                                    max_delay=8.0, clock=lambda: now[0],
                                                                    log=logs.append))
    login = lambda password: users.get_user(None, "operator", password)  # noqa: E731
    assert [login(f"guess{i}") for i in range(3)] == [None] * 3
    assert login("s3cret") is None                  # locked for 1 s: even the right password waits
    now[0] += 1.0
    assert login("guess4") is None                  # checked, failed: the wait doubles to 2 s
    now[0] += 1.5
    assert login("s3cret") is None
    now[0] += 0.5
    assert login("s3cret").name == "operator"       # after the wait the right password works again
    assert login("guess5") is None and login("guess6") is None  # the count starts over after success
    assert login("s3cret").name == "operator"
    for _ in range(10):                              # the wait is capped at max_delay
        now[0] += 60.0
        login("nope")
    assert users.throttle.delay("configured user") == 8.0
    assert any("failed OPC UA logins in a row" in line for line in logs)
    # guesses at other user names do not lock the configured user out
    other = PasswordUserManager("operator", "s3cret", LoginThrottle(clock=lambda: now[0]))
    for i in range(20):
        other.get_user(None, f"intruder{i}", "x")
    assert other.get_user(None, "operator", "s3cret").name == "operator"


def test_password_file_readable_by_others_is_warned_about(tmp_path, capsys):
    from twingym.cli.live_cmd import read_password

    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    assert read_password("operator", secret) == "s3cret"
    err = capsys.readouterr().err
    assert "accessible by its group or others (mode 644)" in err and "chmod 600" in err
    secret.chmod(0o600)
    assert read_password("operator", secret) == "s3cret"
    assert capsys.readouterr().err == ""


def test_slow_publication_does_not_hold_back_the_twin_clock(tmp_path, monkeypatch):
    """Publishing (what many readers slow down) takes 1 s per step here; the clock still runs its 25
    steps, records each one, and the readers get the newest step, skipping the ones in between."""
    from live_helpers import start_thread
    from twingym.live import free_port
    from twingym.live.server import LiveTwinServer

    publish = LiveTwinServer._publish
    published: list[int] = []
    port = free_port()

    async def slow_publish(self, server, out):
        await publish(self, server, out)
        if self.config.port == port:  # only this test's server (others may share the process)
            published.append(out.step)
            await asyncio.sleep(1.0)

    monkeypatch.setattr(LiveTwinServer, "_publish", slow_publish)
    handle = start_thread(tmp_path, port=port, speed=25.0, steps=25)   # ToyTank dt 1 s: a step per 40 ms
    handle._thread.join(120)
    summary = handle.stop()
    assert summary.steps == 25 and summary.stopped_by == "steps"
    assert [r["step"] for r in read_record(handle.record_path) if r["event"] == "step"] == list(range(1, 26))
    assert published == sorted(published) and published[-1] == 25   # the last step reaches the readers
    assert summary.skipped_publications == 25 - len(published) > 0
