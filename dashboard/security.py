"""Who may open the dashboard, and what they may do there.

Rules (the same as the live twin's):

- Loopback by default (``127.0.0.1``). Without credentials, anyone on this machine may *look*.
- A **non-loopback** bind requires credentials (HTTP Basic, user name and password) *and* TLS
  (``certfile`` + ``keyfile``); there is no switch to lift this.
- The page is **read-only**. ``operator=True`` adds one action, switching the twin between
  ``local`` and ``remote`` control, and needs credentials even on loopback. No setpoint can be
  written from the page.

Passwords never travel on a command line: the CLI reads them from ``TWINGYM_DASHBOARD_PASSWORD``
or a file. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass, field

from twingym.live.security import is_loopback

PASSWORD_ENV = "TWINGYM_DASHBOARD_PASSWORD"


class DashboardSecurityError(ValueError):
    """A dashboard security setting that is refused (one-line message)."""


@dataclass
class DashboardSecurity:
    """Web-side security of one dashboard.

    Attributes:
        username, password: HTTP Basic credentials every request must carry (both or neither).
        certfile, keyfile: TLS certificate chain and private key (PEM); both or neither.
        operator: allow authenticated users to switch local/remote control from the page.
    """

    username: str | None = None
    password: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    operator: bool = False
    #: random per-run token set as a cookie on the authenticated page, checked on the WebSocket
    session_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def tls(self) -> bool:
        return bool(self.certfile and self.keyfile)

    @property
    def authenticated(self) -> bool:
        return bool(self.username and self.password)

    def check(self, host: str) -> None:
        """Raise :class:`DashboardSecurityError` naming the first rule ``host`` + settings break."""
        if bool(self.username) != bool(self.password):
            raise DashboardSecurityError("dashboard credentials need both a user name and a password "
                                         f"(password from {PASSWORD_ENV} or a password file)")
        if bool(self.certfile) != bool(self.keyfile):
            raise DashboardSecurityError("TLS needs both a certificate file and a key file")
        if not is_loopback(host) and not (self.authenticated and self.tls):
            raise DashboardSecurityError(
                f"a dashboard on non-loopback address {host} needs credentials (--web-user, password "
                f"from {PASSWORD_ENV}) and TLS (--tls-cert, --tls-key)")
        if self.operator and not self.authenticated:
            raise DashboardSecurityError("operator mode needs credentials (--web-user, password from "
                                         f"{PASSWORD_ENV}): it can switch the twin's control mode")

    def accepts(self, authorization: str | None) -> bool:
        """Does an HTTP ``Authorization`` header carry the right Basic credentials? True when open."""
        if not self.authenticated:
            return True
        if not authorization or not authorization.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(authorization[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), str(self.username).encode())
        ok_password = hmac.compare_digest(password.encode(), str(self.password).encode())
        return ok_user and ok_password

    def accepts_token(self, token: str | None) -> bool:
        """Does a session cookie match this run's token? True when open."""
        if not self.authenticated:
            return True
        return bool(token) and hmac.compare_digest(str(token), self.session_token)

    def describe(self, host: str) -> str:
        """One line for the log: who can reach the page and what it allows."""
        reach = "this machine only" if is_loopback(host) else f"the network ({host})"
        login = f"user {self.username}" if self.authenticated else "no login"
        transport = "TLS" if self.tls else "plain HTTP"
        mode = "operator mode (local/remote switch)" if self.operator else "read-only"
        return f"{reach}, {login}, {transport}, {mode}"
