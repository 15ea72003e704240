"""The OPC UA security options shared by ``twingym twin serve``, ``twingym deploy`` and ``twingym dashboard``.

``@opcua_security_options(role)`` adds ``--user``, ``--password-file``, ``--security``, ``--cert``,
``--key`` and ``--generate-certs`` to a typer command and hands them to it as one
:class:`OpcuaSecurityOptions` argument named ``opcua``. Passwords never travel on the command line:
they come from ``TWINGYM_OPCUA_PASSWORD`` or the ``--password-file``.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from twingym.cli.errors import UserError

PASSWORD_ENV = "TWINGYM_OPCUA_PASSWORD"


def read_password(user: str | None, password_file: Path | None) -> str | None:
    """The password for ``user`` from ``--password-file`` or ``TWINGYM_OPCUA_PASSWORD``."""
    if password_file is not None:
        if not password_file.is_file():
            raise UserError(f"password file {password_file} not found")
        from twingym.live.security import password_file_warning

        warning = password_file_warning(password_file)
        if warning:
            print(warning, file=sys.stderr)
        password = password_file.read_text().strip()
    else:
        password = os.environ.get(PASSWORD_ENV)
    if user and not password:
        raise UserError(f"--user {user} needs a password: set {PASSWORD_ENV} or give --password-file")
    if password and not user:
        raise UserError("a password was given (file or environment) but no --user")
    return password or None


@dataclass(frozen=True)
class OpcuaSecurityOptions:
    """The six OPC UA security options as given on the command line.

    ``mode`` is ``None`` when not given (the server then picks from the endpoint; the client uses
    ``none``); paths are ``None`` when not given.
    """

    user: str | None
    password_file: Path | None
    mode: str | None
    cert: Path | None
    key: Path | None
    generate_certs: Path | None

    def password(self) -> str | None:
        """The password (file or environment) checked against ``user`` (one-line :class:`UserError`)."""
        return read_password(self.user, self.password_file)

    def files(self) -> dict[str, str | None]:
        """``cert``, ``key`` and ``generate_certs`` as strings (``None`` when not given)."""
        return {name: str(value) if value else None for name, value in
                (("cert", self.cert), ("key", self.key), ("generate_certs", self.generate_certs))}


_SERVER = {
    "user": f"Require this user name (password from {PASSWORD_ENV} or --password-file); anonymous is refused.",
    "security": "none | sign | sign_encrypt | both (Basic256Sha256).",
    "cert": "Server certificate (DER or PEM).",
    "key": "Server private key (PEM).",
    "generate_certs": "Create a self-signed certificate and key in this folder when missing.",
}
_CLIENT = {
    "user": f"User name (password from {PASSWORD_ENV} or --password-file).",
    "security": "none | sign | sign_encrypt (Basic256Sha256).",
    "cert": "Client certificate (DER or PEM).",
    "key": "Client private key (PEM).",
    "generate_certs": "Create a self-signed client certificate here when missing.",
}


def _parameters(role: str, prefix: str) -> list[inspect.Parameter]:
    text = _SERVER if role == "server" else _CLIENT
    default_mode = None if role == "server" else "none"
    specs: list[tuple[str, Any, Any, str]] = [
        ("user", str | None, None, text["user"]),
        ("password_file", Path | None, None, "File holding the password."),
        ("security", str | None, default_mode, text["security"]),
        ("cert", Path | None, None, text["cert"]),
        ("key", Path | None, None, text["key"]),
        ("generate_certs", Path | None, None, text["generate_certs"]),
    ]
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                              default=typer.Option(default, help=prefix + help_text))
            for name, annotation, default, help_text in specs]


def opcua_security_options(role: str, prefix: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the command gets the shared OPC UA security options as ``opcua: OpcuaSecurityOptions``.

    ``role`` is ``"server"`` or ``"client"`` (help texts and the default of ``--security``);
    ``prefix`` is put before every help text (e.g. ``"OPC UA: "`` where other options are about the web).
    """
    if role not in ("server", "client"):
        raise ValueError(f"role must be 'server' or 'client', got {role!r}")
    extra = _parameters(role, prefix)
    names = [p.name for p in extra]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for name, p in signature.parameters.items() if name != "opcua"]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            opcua = OpcuaSecurityOptions(user=values["user"], password_file=values["password_file"],
                                         mode=values["security"], cert=values["cert"], key=values["key"],
                                         generate_certs=values["generate_certs"])
            return command(**kwargs, opcua=opcua)

        wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**{p.name: p.annotation for p in own}, **{p.name: p.annotation for p in extra}}
        return wrapper

    return decorate


__all__ = ["PASSWORD_ENV", "OpcuaSecurityOptions", "opcua_security_options", "read_password"]
