"""The deploy runtime's OPC UA side: connect to a live twin, discover it, read snapshots, write setpoints.

The live twin describes itself (``twingym/ObservationNodes``, ``twingym/SetpointNodes``, ...), so the
client needs only the namespace URI and the twin-level node ids below, a copy of
``twingym.live.naming`` kept here because importing ``twingym.envs`` loads JAX, which this
runtime must not (a test checks both copies agree).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

NAMESPACE_URI = "urn:twingym:live"
ROOT = "twingym"
PASSWORD_ENV = "TWINGYM_OPCUA_PASSWORD"

#: twin-level variables read once after connecting
DESCRIPTION_VARS = ("TwinId", "Scenario", "ServerId", "Dt", "SpeedFactor", "ActionKind", "ActionLow",
                    "ActionHigh", "ObservationNodes", "ObservationLabels", "SetpointNodes",
                    "AppliedNodes", "BaselineNodes", "ActionLabels", "BaselineName")
#: twin-level variables read every poll (``Publishing`` first and ``Step`` last: equal when consistent)
SNAPSHOT_VARS = ("Publishing", "SimTime", "Episode", "EpisodeStep", "LastReward", "LastCost",
                 "EpisodeReturn", "LastEpisodeReturn", "TotalReward", "ControlMode", "ServerId", "Faults")

#: what a dropped or refused connection raises inside asyncua / asyncio
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, asyncio.TimeoutError,
                                                      ConnectionError, ua.UaError)


class LinkError(Exception):
    """The endpoint is reachable but unusable (not a twingym live twin, refused credentials, ...)."""


@dataclass
class ClientSecurity:
    """How the deploy client authenticates.

    Attributes:
        username, password: user-name login (password from ``TWINGYM_OPCUA_PASSWORD`` in the CLI).
        mode: ``none``, ``sign`` or ``sign_encrypt`` (Basic256Sha256 for the last two).
        cert, key: client certificate (DER/PEM) and private key (PEM) for sign modes.
        generate_certs: folder where a self-signed client certificate is created when missing.
    """

    username: str | None = None
    password: str | None = None
    mode: str = "none"
    cert: str | None = None
    key: str | None = None
    generate_certs: str | None = None


@dataclass
class TwinDescription:
    """What the live twin says about itself (read once per connection)."""

    twin_id: str
    scenario: str
    server_id: str
    dt: float
    speed: float
    action_kind: str
    action_low: list[float]
    action_high: list[float]
    observation_nodes: list[str]
    observation_labels: list[str]
    setpoint_nodes: list[str]
    applied_nodes: list[str]
    baseline_nodes: list[str]
    action_labels: list[str]
    baseline_name: str

    @property
    def period(self) -> float:
        """Wall seconds between two twin steps."""
        return self.dt / self.speed


@dataclass
class Snapshot:
    """One consistent read of the live twin (``consistent`` False when an update was in progress)."""

    step: int
    consistent: bool
    sim_time: float
    episode: int
    episode_step: int
    last_reward: float
    last_cost: float
    episode_return: float
    last_episode_return: float
    total_reward: float
    mode: str
    server_id: str
    faults: str
    measurements: list[float] = field(default_factory=list)
    applied: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class TwinLink:
    """One client connection to a live twin. Reconnect by calling :meth:`connect` again."""

    def __init__(self, endpoint: str, security: ClientSecurity | None = None, timeout: float = 4.0) -> None:
        self.endpoint = endpoint
        self.security = security or ClientSecurity()
        self.timeout = timeout
        self.client: Client | None = None
        self.description: TwinDescription | None = None
        self._idx = 0

    @property
    def connected(self) -> bool:
        return self.client is not None

    def _node(self, identifier: str) -> Any:
        assert self.client is not None
        return self.client.get_node(ua.NodeId(identifier, self._idx))

    async def _configure(self, client: Client) -> None:
        sec = self.security
        if sec.username:
            client.set_user(sec.username)
            client.set_password(sec.password or "")
        if sec.mode not in ("none", "sign", "sign_encrypt"):
            raise LinkError(f"client security mode {sec.mode!r} unknown; use none, sign or sign_encrypt")
        if sec.mode != "none":
            cert, key = sec.cert, sec.key
            if not (cert and key):
                if not sec.generate_certs:
                    raise LinkError(f"security mode {sec.mode} needs a client certificate: give --cert and "
                                    "--key, or --generate-certs DIR")
                cert, key = (str(p) for p in _client_certificate(sec.generate_certs))
            mode = (ua.MessageSecurityMode.Sign if sec.mode == "sign"
                    else ua.MessageSecurityMode.SignAndEncrypt)
            client.application_uri = "urn:twingym:deploy:client"
            await client.set_security(SecurityPolicyBasic256Sha256, cert, key, mode=mode)

    async def connect(self) -> TwinDescription:
        """Open a session and read the twin's description. Raises a connection error or LinkError."""
        await self.close()
        client = Client(self.endpoint, timeout=self.timeout)
        client.session_timeout = 30_000
        await self._configure(client)
        try:
            await client.connect()
        except ua.uaerrors.BadUserAccessDenied as exc:
            raise LinkError(f"{self.endpoint} refused the login (user access denied): {exc}") from None
        except (ua.uaerrors.BadIdentityTokenRejected, ua.uaerrors.BadIdentityTokenInvalid) as exc:
            raise LinkError(f"{self.endpoint} refused this kind of login: {exc}") from None
        self.client = client
        try:
            self._idx = await client.get_namespace_index(NAMESPACE_URI)
        except (ValueError, ua.UaError):
            await self.close()
            raise LinkError(f"{self.endpoint} is not a twingym live twin (no namespace {NAMESPACE_URI})") from None
        values = await client.read_values([self._node(f"{ROOT}/{v}") for v in DESCRIPTION_VARS])
        d = dict(zip(DESCRIPTION_VARS, values, strict=True))
        self.description = TwinDescription(
            twin_id=d["TwinId"], scenario=d["Scenario"], server_id=d["ServerId"], dt=float(d["Dt"]),
            speed=float(d["SpeedFactor"]), action_kind=d["ActionKind"], action_low=list(d["ActionLow"]),
            action_high=list(d["ActionHigh"]), observation_nodes=list(d["ObservationNodes"]),
            observation_labels=list(d["ObservationLabels"]), setpoint_nodes=list(d["SetpointNodes"]),
            applied_nodes=list(d["AppliedNodes"]), baseline_nodes=list(d["BaselineNodes"]),
            action_labels=list(d["ActionLabels"]), baseline_name=d["BaselineName"] or "")
        desc = self.description
        self._snapshot_nodes = ([self._node(f"{ROOT}/{v}") for v in SNAPSHOT_VARS]
                                + [self._node(n) for n in desc.observation_nodes + desc.applied_nodes
                                   + desc.baseline_nodes]
                                + [self._node(f"{ROOT}/Step")])
        self._setpoint_nodes = [self._node(n) for n in desc.setpoint_nodes]
        self._mode_node = self._node(f"{ROOT}/ControlMode")
        return desc

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), 2.0)
            except BaseException:  # the server may already be gone; nothing to do
                with contextlib.suppress(AttributeError):
                    client.uaclient.protocol = None

    async def read(self) -> Snapshot:
        """One Read of every snapshot variable (a single request: one server-side instant)."""
        assert self.client is not None and self.description is not None
        values = await self.client.read_values(self._snapshot_nodes)
        n_snap = len(SNAPSHOT_VARS)
        d = dict(zip(SNAPSHOT_VARS, values[:n_snap], strict=True))
        rest = values[n_snap:-1]
        n_obs, n_act = len(self.description.observation_nodes), len(self.description.applied_nodes)
        step = int(values[-1])
        return Snapshot(
            step=step, consistent=int(d["Publishing"]) == step, sim_time=_float(d["SimTime"]),
            episode=int(d["Episode"]), episode_step=int(d["EpisodeStep"]),
            last_reward=_float(d["LastReward"]), last_cost=_float(d["LastCost"]),
            episode_return=_float(d["EpisodeReturn"]), last_episode_return=_float(d["LastEpisodeReturn"]),
            total_reward=_float(d["TotalReward"]), mode=str(d["ControlMode"]), server_id=str(d["ServerId"]),
            faults=str(d["Faults"] or ""), measurements=[_float(v) for v in rest[:n_obs]],
            applied=[_float(v) for v in rest[n_obs:n_obs + n_act]],
            baseline=[_float(v) for v in rest[n_obs + n_act:]])

    async def write(self, setpoints: list[float] | None = None, mode: str | None = None) -> None:
        """Write setpoints (action order) and/or the control mode, in one Write request."""
        assert self.client is not None
        nodes, values = [], []
        if setpoints is not None:
            nodes += self._setpoint_nodes
            values += [ua.DataValue(ua.Variant(float(v), ua.VariantType.Double)) for v in setpoints]
        if mode is not None:
            nodes.append(self._mode_node)
            values.append(ua.DataValue(ua.Variant(mode, ua.VariantType.String)))
        if nodes:
            await self.client.write_values(nodes, values)


def _client_certificate(folder: str) -> tuple[Path, Path]:
    """Self-signed client certificate and key in ``folder`` (created when missing)."""
    from asyncua.crypto import cert_gen
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = path / "client-cert.der", path / "client-key.pem"
    if not (cert_path.is_file() and key_path.is_file()):
        key = cert_gen.generate_private_key()
        uri = "urn:twingym:deploy:client"
        cert = cert_gen.generate_self_signed_app_certificate(
            key, uri, {"commonName": "twingym deploy", "organizationName": "twingym"},
            [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")],
            extended=[ExtendedKeyUsageOID.CLIENT_AUTH], days=365)
        key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(encoding=serialization.Encoding.DER))
    return cert_path, key_path
