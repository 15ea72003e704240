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
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
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


class PasswordUserManager:
    """asyncua user manager accepting exactly one user name/password; refuses anonymous sessions."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password.encode()

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None or password is None:
            return None
        given = password.encode() if isinstance(password, str) else bytes(password)
        same_user = hmac.compare_digest(username.encode(), self._username.encode())
        same_password = hmac.compare_digest(given, self._password)
        return User(role=UserRole.User, name=username) if same_user and same_password else None


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
