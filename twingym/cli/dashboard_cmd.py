"""CLI verb ``twingym dashboard --endpoint URL`` and the ``--dashboard [PORT]`` option of ``twin serve``,
``deploy`` and the main job: a live web page of a twin read over OPC UA.

``--dashboard`` without a value means the default port (8765); see :func:`expand_optional_port`.
Web passwords come from ``TWINGYM_DASHBOARD_PASSWORD`` or ``--web-password-file``, never the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from twingym.cli.errors import UserError
from twingym.cli.opcua_options import OpcuaSecurityOptions, opcua_security_options

#: options taking an optional value: name -> value used when none follows
OPTIONAL_VALUE_OPTIONS = {"--dashboard": "8765"}
DASHBOARD_HELP = ("Serve a live dashboard of the twin on loopback at this port (default 8765 when "
                  "no value is given; 0 picks a free port).")


def expand_optional_port(argv: list[str]) -> list[str]:
    """Give ``--dashboard`` its default value when no value follows it (``--dashboard --steps 5``)."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg in OPTIONAL_VALUE_OPTIONS:
            following = argv[i + 1] if i + 1 < len(argv) else None
            if following is None or not following.lstrip("-").isdigit():
                out.append(OPTIONAL_VALUE_OPTIONS[arg])
    return out


def web_password(user: str | None, password_file: Path | None) -> str | None:
    """The dashboard password for ``user`` from ``--web-password-file`` or the environment."""
    from twingym.dashboard import PASSWORD_ENV

    if password_file is not None:
        if not password_file.is_file():
            raise UserError(f"web password file {password_file} not found")
        password = password_file.read_text().strip()
    else:
        password = os.environ.get(PASSWORD_ENV)
    if user and not password:
        raise UserError(f"--web-user {user} needs a password: set {PASSWORD_ENV} or give --web-password-file")
    return password or None


def start_background(endpoint: str, port: int, *, security: Any = None, events_log: str | None = None):
    """A loopback, read-only dashboard of ``endpoint`` in a background thread (``.url``, ``.stop()``).

    ``security`` is the OPC UA :class:`ClientSecurity` to read the twin with (default: anonymous).
    """
    from twingym.dashboard import DashboardConfig, FeedConfig, start_dashboard_thread

    config = DashboardConfig(FeedConfig(endpoint, security=security, events_log=events_log), port=port)
    try:
        return start_dashboard_thread(config)
    except OSError as exc:
        raise UserError(f"cannot serve the dashboard on port {port}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    @opcua_security_options("client", prefix="OPC UA: ")
    def dashboard_cmd(
        endpoint: str = typer.Option("opc.tcp://127.0.0.1:4840/twingym/", help="Live twin endpoint to read."),
        host: str = typer.Option("127.0.0.1", help="Web address to listen on (non-loopback needs "
                                 "--web-user and TLS)."),
        port: int = typer.Option(8765, help="Web port (0 picks a free one)."),
        rate: float = typer.Option(10.0, help="Updates per second pushed to each browser."),
        deploy_log: Path | None = typer.Option(None, help="A deploy decision log whose fallbacks, "
                                               "recoveries and handovers are shown as events."),
        web_user: str | None = typer.Option(None, help="Require this user name (HTTP Basic; password "
                                            "from TWINGYM_DASHBOARD_PASSWORD or --web-password-file)."),
        web_password_file: Path | None = typer.Option(None, help="File holding the web password."),
        tls_cert: Path | None = typer.Option(None, help="TLS certificate chain (PEM)."),
        tls_key: Path | None = typer.Option(None, help="TLS private key (PEM)."),
        operator: bool = typer.Option(False, "--operator", help="Let authenticated users switch the twin "
                                      "between local and remote control (nothing else)."),
        server_cert: Path | None = typer.Option(None, "--server-cert", help="OPC UA: the server's "
                                                "certificate (pinned; for servers refusing unsecured channels)."),
        opcua: OpcuaSecurityOptions = None,  # type: ignore[assignment]  (the shared security options)
    ) -> None:
        """Serve a live web dashboard of any twingym live twin, read over OPC UA."""
        from twingym.dashboard import (
            DashboardConfig,
            DashboardSecurity,
            DashboardSecurityError,
            FeedConfig,
            serve_dashboard,
        )
        from twingym.policies.deploy.link import ClientSecurity

        for path in (tls_cert, tls_key):
            if path is not None and not path.is_file():
                raise UserError(f"TLS file {path} not found")
        web = DashboardSecurity(username=web_user, password=web_password(web_user, web_password_file),
                                certfile=str(tls_cert) if tls_cert else None,
                                keyfile=str(tls_key) if tls_key else None, operator=operator)
        client = ClientSecurity(username=opcua.user, password=opcua.password(), mode=opcua.mode or "none",
                                server_cert=str(server_cert) if server_cert else None, **opcua.files())
        config = DashboardConfig(FeedConfig(endpoint, security=client, rate=rate,
                                            events_log=str(deploy_log) if deploy_log else None),
                                 host=host, port=port, security=web)
        try:
            serve_dashboard(config, log=lambda msg: typer.echo(msg, err=True))
        except DashboardSecurityError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot serve the dashboard on {host}:{port}: {exc.strerror or exc}") from None
        except KeyboardInterrupt:
            pass
