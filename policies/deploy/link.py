"""The deploy runtime's OPC UA side: connect to a live twin, discover it, read snapshots, write setpoints.

The live twin describes itself (``twingym/ObservationNodes``, ``twingym/SetpointNodes``, ...); the
node names, the description and snapshot layout and the consistency rule come from the JAX-free
protocol module :mod:`twingym.live.contract`, which the server uses too. This module only moves them
over asyncua.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from twingym.live.contract import (
    DESCRIPTION_VARS,
    NAMESPACE_URI,
    Snapshot,
    TwinDescription,
    snapshot_node_ids,
    twin_node,
)

PASSWORD_ENV = "TWINGYM_OPCUA_PASSWORD"

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
        server_cert: the server's certificate (DER/PEM) for sign modes: pinned, instead of fetched
            from the server over an unsecured channel (which a strict server refuses).
    """

    username: str | None = None
    password: str | None = None
    mode: str = "none"
    cert: str | None = None
    key: str | None = None
    generate_certs: str | None = None
    server_cert: str | None = None


def refused_channel(exc: BaseException) -> bool:
    """Whether a connect failure is the server closing the connection as the secure channel opened
    (it refuses that security), rather than the endpoint being unreachable (refused, reset, timed out)."""
    return type(exc) is ConnectionError and "connection lost" in str(exc)


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

    @property
    def namespace_index(self) -> int:
        """Index of the twingym namespace on the connected server."""
        return self._idx

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
            await client.set_security(SecurityPolicyBasic256Sha256, cert, key, mode=mode,
                                      server_certificate=sec.server_cert)

    async def connect(self) -> TwinDescription:
        """Open a session and read the twin's description. Raises a connection error or LinkError."""
        await self.close()
        client = Client(self.endpoint, timeout=self.timeout)
        client.session_timeout = 30_000
        try:
            await self._configure(client)
            await client.connect()
        except ua.uaerrors.BadUserAccessDenied as exc:
            raise LinkError(f"{self.endpoint} refused the login (user access denied): {exc}") from None
        except (ua.uaerrors.BadIdentityTokenRejected, ua.uaerrors.BadIdentityTokenInvalid) as exc:
            raise LinkError(f"{self.endpoint} refused this kind of login: {exc}") from None
        except ua.UaError as exc:
            if "No matching endpoints" in str(exc):
                raise LinkError(f"security mismatch: {self.endpoint} offers no endpoint for --security "
                                f"{self.security.mode} ({exc})") from None
            raise
        except ConnectionError as exc:
            if refused_channel(exc):
                raise LinkError(self._refused_channel_message()) from None
            raise
        self.client = client
        try:
            self._idx = await client.get_namespace_index(NAMESPACE_URI)
        except (ValueError, ua.UaError):
            await self.close()
            raise LinkError(f"{self.endpoint} is not a twingym live twin (no namespace {NAMESPACE_URI})") from None
        values = await client.read_values([self._node(twin_node(v)) for v in DESCRIPTION_VARS])
        self.description = desc = TwinDescription.from_values(values)
        self._snapshot_nodes = [self._node(n) for n in snapshot_node_ids(desc)]
        self._setpoint_nodes = [self._node(n) for n in desc.setpoint_nodes]
        self._mode_node = self._node(twin_node("ControlMode"))
        return desc

    def _refused_channel_message(self) -> str:
        sec = self.security
        if sec.mode == "none":
            return (f"security mismatch: {self.endpoint} refused a security-None channel (it requires "
                    "Basic256Sha256): use --security sign_encrypt (or sign) with --generate-certs DIR")
        if not sec.server_cert:
            return (f"security mismatch: {self.endpoint} refuses unsecured channels, so its certificate "
                    "cannot be fetched from it: give --server-cert (the server's certificate file)")
        return f"security mismatch: {self.endpoint} refused a {sec.mode} channel"

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
        desc = self.description
        return Snapshot.from_values(values, len(desc.observation_nodes), len(desc.applied_nodes))

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
