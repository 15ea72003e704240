"""Who may reach the live twin, and how: the endpoint security policy.

Rules (the OPC UA specification wants the None security profile disabled by default; asyncua's
defaults enable it with anonymous logins, so twingym decides explicitly):

- A **loopback** endpoint (127.0.0.0/8, ::1, ``localhost``) without credentials: security policy
  None and anonymous login (the embedded default ``opc.tcp://127.0.0.1:4840/twingym/``).
- Any endpoint **with credentials** (a user name and password): only user-name logins are accepted,
  anonymous sessions are refused. On loopback the None policy stays available beside
  Basic256Sha256 when certificates are loaded.
- A **non-loopback** endpoint requires credentials *and* certificate-based Basic256Sha256
  (``sign``, ``sign_encrypt`` or both), with a certificate and key given or generated on request
  (self-signed); the None policy is not offered. ``insecure=True`` lifts this, and
  :func:`insecure_warning` says exactly what is exposed.

What is not offered is refused at the secure channel, before any login: asyncua only advertises
the configured endpoints but, left alone, still opens a security-None channel for a client that
asks for one. :class:`ChannelGate` closes that hole (:func:`enforce_offered_channels`).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import math
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole

SECURITY_MODES = ("none", "sign", "sign_encrypt", "both")
PASSWORD_ENV = "TWINGYM_OPCUA_PASSWORD"


class SecurityError(ValueError):
    """A server or client security setting that twingym refuses (one-line message)."""


@dataclass
class SecurityConfig:
    """Server-side security settings.

    Attributes:
        username, password: credentials clients must present (both or neither). Never put the
            password on a command line; the CLI reads it from ``TWINGYM_OPCUA_PASSWORD`` or a file.
        mode: ``none``, ``sign``, ``sign_encrypt`` or ``both`` (Basic256Sha256 modes); ``None`` picks
            ``none`` on an open loopback endpoint and ``both`` otherwise.
        cert, key: server certificate (DER or PEM) and private key (PEM) files.
        generate_certs: folder in which to create a self-signed certificate and key when missing.
        insecure: allow a non-loopback endpoint without the protections above.
    """

    username: str | None = None
    password: str | None = None
    mode: str | None = None
    cert: str | None = None
    key: str | None = None
    generate_certs: str | None = None
    insecure: bool = False


@dataclass
class SecurityPlan:
    """What the server will offer: asyncua policy types, identity tokens and certificate files."""

    policies: list[Any]
    tokens: list[type]
    cert: Path | None
    key: Path | None
    loopback: bool
    warning: str | None = None

    def describe(self) -> str:
        """One line: offered policies and logins."""
        names = {ua.SecurityPolicyType.NoSecurity: "None",
                 ua.SecurityPolicyType.Basic256Sha256_Sign: "Basic256Sha256 Sign",
                 ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt: "Basic256Sha256 SignAndEncrypt"}
        logins = "user name only (anonymous refused)" if ua.UserNameIdentityToken in self.tokens else "anonymous"
        return (f"policies {', '.join(names.get(p, str(p)) for p in self.policies)}; logins {logins}"
                + (f"; certificate {self.cert}" if self.cert else ""))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only to loopback addresses."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def insecure_warning(host: str, port: int, sec: SecurityConfig) -> str:
    """What an ``--insecure`` endpoint exposes, in one paragraph."""
    who = "anyone who can reach it" if not sec.username else f"anyone with user {sec.username!r}'s password"
    wire = ("in clear text (no signing, no encryption: readings and setpoints can be read and "
            "forged on the network" + (", and the password travels unencrypted" if sec.username else "")
            + ")")
    return (f"WARNING --insecure: the live twin on {host}:{port} accepts security policy None; "
            f"{who} can read every measurement and WRITE every setpoint, {wire}.")


class ChannelGate:
    """Last entry of asyncua's channel policy list: matches every (policy URI, mode) the plan does
    not offer, and refuses it, so a weaker channel than configured never opens.

    asyncua picks the first entry whose ``matches(uri, mode)`` is true (``mode`` is ``None`` on the
    first look at a request); without a match it falls back to the connection's current policy,
    which starts as None: that fallback is what let a security-None channel in. The refusal is
    asyncua's own ``BadUserAccessDenied``, on which it closes the connection at once (a subclass
    would join asyncua's status-code table and change what its clients raise).
    """

    def __init__(self, policy_types: list[Any]) -> None:
        from asyncua.crypto import security_policies

        self.offered = [(security_policies.SECURITY_POLICY_TYPE_MAP[p][0].URI,
                         security_policies.SECURITY_POLICY_TYPE_MAP[p][1]) for p in policy_types]
        self.refused = 0

    def matches(self, uri: str, mode: Any = None) -> bool:
        return not any(uri == u and (mode is None or mode == m) for u, m in self.offered)

    def create(self, peer_certificate: Any) -> Any:
        self.refused += 1
        raise ua.uaerrors.BadUserAccessDenied()


def enforce_offered_channels(server: Any, plan: SecurityPlan) -> ChannelGate:
    """Make ``server`` (an ``asyncua.Server``, before ``start``) refuse every channel ``plan`` does not offer."""
    gate = ChannelGate(plan.policies)
    # asyncua adds the offered policy factories to this list at start and hands the same list to
    # every connection. The gate matches only what no offered factory matches, so its place in the
    # list does not matter.
    server._policies.append(gate)
    return gate


def require_gate(server: Any, gate: ChannelGate) -> None:
    """Raise ``RuntimeError`` unless the started ``server`` consults ``gate`` for new channels (a
    guard against an asyncua release that stops sharing its policy list)."""
    listening = getattr(getattr(server, "bserver", None), "_policies", None)
    if listening is None or not any(p is gate for p in listening):
        raise RuntimeError("the OPC UA server does not enforce its security policy (asyncua's channel "
                           "policy list changed); refusing to serve")


class LoginThrottle:
    """Slows down password guessing without ever blocking the server's event loop.

    After ``free_failures`` failed logins in a row for one bucket (the configured user name, or
    every other name together), each further attempt is refused unchecked until ``delay`` seconds
    have passed since the last checked failure; ``delay`` starts at ``initial_delay`` and doubles with each
    failure up to ``max_delay``. A successful login clears its bucket. The cost: while a guesser
    keeps failing, the real user also waits up to ``max_delay`` seconds for a login.
    """

    def __init__(self, free_failures: int = 3, initial_delay: float = 1.0, max_delay: float = 60.0,
                 clock: Any = None, log: Any = None) -> None:
        import time

        self.free_failures, self.initial_delay, self.max_delay = free_failures, initial_delay, max_delay
        self.clock = clock or time.monotonic
        self.log = log or (lambda msg: None)
        self._failures: dict[str, int] = {}
        self._last_failure: dict[str, float] = {}

    def delay(self, bucket: str) -> float:
        """Seconds a login in ``bucket`` must wait after the last failure (0: no wait)."""
        extra = self._failures.get(bucket, 0) - self.free_failures
        return 0.0 if extra < 0 else min(self.initial_delay * 2.0 ** extra, self.max_delay)

    def allowed(self, bucket: str) -> bool:
        """Whether a login attempt in ``bucket`` may be checked now."""
        wait = self.delay(bucket)
        return wait == 0.0 or self.clock() - self._last_failure.get(bucket, -math.inf) >= wait

    def failed(self, bucket: str) -> None:
        self._failures[bucket] = self._failures.get(bucket, 0) + 1
        self._last_failure[bucket] = self.clock()
        if self._failures[bucket] >= self.free_failures:
            self.log(f"{self._failures[bucket]} failed OPC UA logins in a row ({bucket}); next attempt "
                     f"checked after {self.delay(bucket):g} s")

    def succeeded(self, bucket: str) -> None:
        self._failures.pop(bucket, None)
        self._last_failure.pop(bucket, None)


class PasswordUserManager:
    """asyncua user manager accepting exactly one user name/password; refuses anonymous sessions
    and throttles repeated failures (:class:`LoginThrottle`)."""

    def __init__(self, username: str, password: str, throttle: LoginThrottle | None = None) -> None:
        self._username = username
        self._password = password.encode()
        self.throttle = throttle or LoginThrottle()

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None or password is None:
            return None
        same_user = hmac.compare_digest(username.encode(), self._username.encode())
        bucket = "configured user" if same_user else "other user names"
        if not self.throttle.allowed(bucket):  # refused unchecked: the password is not even compared
            return None
        given = password.encode() if isinstance(password, str) else bytes(password)
        if same_user and hmac.compare_digest(given, self._password):
            self.throttle.succeeded(bucket)
            return User(role=UserRole.User, name=username)
        self.throttle.failed(bucket)
        return None


def password_file_warning(path: str | Path) -> str | None:
    """A warning when ``path`` can be read (or written) by its group or by others, else ``None``."""
    import stat

    mode = Path(path).stat().st_mode
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    return (f"WARNING: password file {path} is accessible by its group or others (mode "
            f"{stat.S_IMODE(mode):03o}); restrict it with: chmod 600 {path}")


def generate_certificate(folder: str | Path, host: str, app_uri: str, name: str) -> tuple[Path, Path]:
    """Create (if missing) a self-signed certificate ``<name>-cert.der`` and key ``<name>-key.pem``.

    Valid one year, for ``app_uri`` and ``host``; usable by a server and by a client.
    """
    from asyncua.crypto import cert_gen
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}-cert.der", folder / f"{name}-key.pem"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(app_uri), x509.DNSName(host)]
    with contextlib.suppress(ValueError):
        names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
    cert = cert_gen.generate_self_signed_app_certificate(
        key, app_uri, {"commonName": f"twingym {name}", "organizationName": "twingym"}, names,
        extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], days=365)
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(encoding=serialization.Encoding.DER))
    return cert_path, key_path


def plan_security(host: str, port: int, sec: SecurityConfig, app_uri: str) -> SecurityPlan:
    """Decide what the server offers for ``host``; raise :class:`SecurityError` when not allowed."""
    if bool(sec.username) != bool(sec.password):
        raise SecurityError("give both a user name and a password (password from "
                            f"{PASSWORD_ENV} or a password file), or neither")
    if sec.mode is not None and sec.mode not in SECURITY_MODES:
        raise SecurityError(f"security mode {sec.mode!r} unknown; use one of {', '.join(SECURITY_MODES)}")
    loopback = is_loopback(host)
    credentials = bool(sec.username)
    cert = Path(sec.cert) if sec.cert else None
    key = Path(sec.key) if sec.key else None
    if (cert is None) != (key is None):
        raise SecurityError("give both a certificate and its private key, or neither")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise SecurityError(f"certificate or key file not found: {path}")
    if not loopback and not sec.insecure:
        if not credentials:
            raise SecurityError(f"endpoint host {host!r} is not loopback: it requires --user with a "
                                f"password ({PASSWORD_ENV} or --password-file) and Basic256Sha256 "
                                "certificates (--cert/--key or --generate-certs DIR), or --insecure")
        if sec.mode == "none":
            raise SecurityError(f"endpoint host {host!r} is not loopback: security mode 'none' needs "
                                "--insecure; use sign, sign_encrypt or both")
    mode = sec.mode or ("none" if (loopback or sec.insecure) and cert is None and not sec.generate_certs
                        else "both")
    if mode != "none" and cert is None:
        if not sec.generate_certs:
            raise SecurityError(f"security mode {mode!r} needs a server certificate: give --cert and "
                                "--key, or --generate-certs DIR to create a self-signed pair")
        cert, key = generate_certificate(sec.generate_certs, host, app_uri, "server")
    warning = None
    if not loopback and sec.insecure:
        warning = insecure_warning(host, port, sec)

    basic = {"sign": [ua.SecurityPolicyType.Basic256Sha256_Sign],
             "sign_encrypt": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
             "both": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                      ua.SecurityPolicyType.Basic256Sha256_Sign],
             "none": []}[mode]
    policies = list(basic)
    if mode == "none" or ((loopback or sec.insecure) and sec.mode is None):
        policies.append(ua.SecurityPolicyType.NoSecurity)
    if not loopback and not sec.insecure:
        policies = [p for p in policies if p != ua.SecurityPolicyType.NoSecurity]
    tokens: list[type] = [ua.UserNameIdentityToken] if credentials else [ua.AnonymousIdentityToken]
    return SecurityPlan(policies=policies, tokens=tokens, cert=cert, key=key, loopback=loopback,
                        warning=warning)
