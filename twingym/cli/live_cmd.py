"""CLI verbs: ``twingym twin serve TWIN`` (the live twin) and ``twingym deploy BUNDLE`` (its controller).

Heavy modules (asyncua, JAX twins, onnxruntime) are imported inside the commands so ``--help``
stays fast. The OPC UA security options are the shared group of :mod:`twingym.cli.opcua_options`;
passwords never travel on the command line: they come from ``TWINGYM_OPCUA_PASSWORD`` or a
``--password-file``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from twingym.cli.dashboard_cmd import DASHBOARD_HELP, start_background
from twingym.cli.errors import UserError
from twingym.cli.opcua_options import OpcuaSecurityOptions, opcua_security_options, read_password

__all__ = ["parse_params", "read_password", "register"]


def parse_params(items: list[str] | None) -> dict:
    """``NAME=VALUE`` pairs (VALUE parsed as JSON when it is JSON, else kept as a string)."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"--param {item!r} must look like NAME=VALUE")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def register(app: typer.Typer) -> None:
    twin_app = typer.Typer(help="The live twin: a registered twin in wall-clock time behind OPC UA.",
                           no_args_is_help=True)

    @twin_app.command("serve")
    @opcua_security_options("server")
    def serve_cmd(
        twin: str = typer.Argument(..., help="Registered twin id, e.g. WindFarm-v0."),
        speed: float = typer.Option(1.0, help="Speed factor: simulated seconds per wall-clock second."),
        seed: int = typer.Option(0, help="PRNG seed of the twin."),
        scenario: str = typer.Option("nominal", help="Scenario name (see the twin's scenarios())."),
        host: str = typer.Option("127.0.0.1", help="Address to listen on (non-loopback needs security)."),
        port: int = typer.Option(4840, help="TCP port."),
        path: str = typer.Option("/twingym/", help="Endpoint path."),
        steps: int | None = typer.Option(None, help="Stop after this many steps."),
        duration: float | None = typer.Option(None, help="Stop after this many wall-clock seconds."),
        dt: float | None = typer.Option(None, help="Simulated seconds per step (default: the twin's dt or 1)."),
        record: Path | None = typer.Option(None, help="Step record file (JSON lines; default under runs/live/)."),
        baseline: str | None = typer.Option(None, help="Baseline run in local control mode (default: the "
                                            "twin's reference baseline)."),
        fault: list[str] | None = typer.Option(None, help="Inject a fault on the published measurements: "
                                               "KIND@START:COUNT with KIND nan or freeze (repeatable)."),
        failsafe_after: float | None = typer.Option(None, help="Switch to local control when no client "
                                                    "wrote a setpoint for this many wall seconds."),
        param: list[str] | None = typer.Option(None, help="Parameter override NAME=VALUE (repeatable)."),
        insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback endpoint without "
                                      "encryption/credentials (prints what it exposes)."),
        no_fsync: bool = typer.Option(False, "--no-fsync", help="Do not fsync the record (faster, "
                                      "less durable)."),
        dashboard: int | None = typer.Option(None, "--dashboard", help=DASHBOARD_HELP),
        opcua: OpcuaSecurityOptions = None,  # type: ignore[assignment]  (the shared security options)
    ) -> None:
        """Run TWIN in wall-clock time behind an OPC UA server until Ctrl-C or a limit."""
        from rich.console import Console

        from twingym.live import Fault, SecurityConfig, ServerConfig, serve

        console = Console(stderr=True)
        try:
            faults = [Fault.parse(f) for f in fault or []]
        except ValueError as exc:
            raise UserError(str(exc)) from None
        sec = SecurityConfig(username=opcua.user, password=opcua.password(), mode=opcua.mode, **opcua.files(),
                             insecure=insecure)
        config = ServerConfig(twin, seed=seed, scenario=scenario, overrides=parse_params(param),
                              speed=speed, dt=dt, baseline=baseline, faults=faults, host=host, port=port,
                              path=path, steps=steps, duration=duration,
                              record=str(record) if record else None, fsync=not no_fsync,
                              failsafe_after=failsafe_after, security=sec)
        page = []

        def on_ready(endpoint: str) -> None:
            if dashboard is not None:
                from twingym.policies.deploy.link import ClientSecurity

                reader = ClientSecurity(username=sec.username, password=sec.password) if sec.username else None
                page.append(start_background(endpoint, dashboard, security=reader))
                console.print(f"dashboard: {page[0].url}", markup=False)

        try:
            summary = serve(config, log=lambda msg: console.print(msg, markup=False, highlight=False),
                            on_ready=on_ready)
        except OSError as exc:
            raise UserError(f"cannot serve on {config.endpoint}: {exc.strerror or exc}") from None
        finally:
            for handle in page:
                handle.stop()
        console.print(f"stopped ({summary.stopped_by}) after {summary.steps} steps, "
                      f"{summary.episodes} episodes, total reward {summary.total_reward:.3f}, "
                      f"{summary.overruns} overruns; record {summary.record}", markup=False)

    app.add_typer(twin_app, name="twin")

    @app.command("deploy")
    @opcua_security_options("client")
    def deploy_cmd(
        bundle: Path = typer.Argument(..., help="Validated policy bundle (directory or .zip)."),
        endpoint: str = typer.Option("opc.tcp://127.0.0.1:4840/twingym/", help="Live twin endpoint."),
        shadow: bool = typer.Option(False, "--shadow", help="Compute and log actions, write nothing (also runs bundles not cleared by validation)."),
        steps: int | None = typer.Option(None, help="Stop after this many twin steps."),
        duration: float | None = typer.Option(None, help="Stop after this many wall-clock seconds."),
        log: Path | None = typer.Option(None, help="Decision log (JSON lines; default under runs/deploy/)."),
        max_rate: float = typer.Option(0.5, help="Rate limit: largest setpoint change per step as a "
                                       "fraction of its range (0 disables)."),
        recover_after: int = typer.Option(3, help="Healthy steps before the policy regains control."),
        give_up_after: float | None = typer.Option(None, help="Stop when no connection for this many seconds."),
        server_cert: Path | None = typer.Option(None, "--server-cert", help="The server's certificate "
                                                "(pinned; needed when the server refuses unsecured channels)."),
        trust: Path | None = typer.Option(None, "--trust", help="Public key (.pub) or trust file: refuse "
                                          "bundles whose validation no listed key signed."),
        dashboard: int | None = typer.Option(None, "--dashboard", help=DASHBOARD_HELP),
        opcua: OpcuaSecurityOptions = None,  # type: ignore[assignment]  (the shared security options)
    ) -> None:
        """Control a live twin with a validated bundle (refuses tampered or unvalidated bundles)."""
        from rich.console import Console

        from twingym.policies.deploy import ClientSecurity, DeployConfig, DeployError, deploy

        console = Console(stderr=True)
        if not bundle.exists():
            raise UserError(f"bundle {bundle} does not exist")
        sec = ClientSecurity(username=opcua.user, password=opcua.password(), mode=opcua.mode or "none",
                             server_cert=str(server_cert) if server_cert else None, **opcua.files())
        config = DeployConfig(bundle=str(bundle), endpoint=endpoint, shadow=shadow, steps=steps,
                              duration=duration, log=str(log) if log else None,
                              max_rate=max_rate if max_rate > 0 else None, recover_after=recover_after,
                              give_up_after=give_up_after, security=sec,
                              trust=str(trust) if trust else None)
        page = None
        if dashboard is not None:
            config.log = str(config.log_path())
            page = start_background(endpoint, dashboard, security=sec, events_log=config.log)
            console.print(f"dashboard: {page.url}", markup=False)
        try:
            summary = deploy(config)
        except DeployError as exc:
            raise UserError(str(exc)) from None
        finally:
            if page is not None:
                page.stop()
        if summary.validation_warning:
            console.print(f"[yellow]shadow only, not cleared for control:[/] {summary.validation_warning}")
        mode = "shadow (nothing written)" if summary.shadow else "control"
        console.print(
            f"deploy {mode}: {summary.steps} steps ({summary.policy_steps} policy, {summary.fallback_steps} "
            f"fallback, {summary.fallbacks} fallbacks, {summary.missed_steps} missed, "
            f"{summary.reconnects} reconnects), reward {summary.reward_sum:.3f}"
            + (f", mean episode return {summary.mean_episode_return:.3f} over "
               f"{len(summary.episode_returns)} episodes" if summary.episode_returns else "")
            + f"; stopped by {summary.stopped_by}; log {summary.log_path}", markup=False)
        failure = summary.failure()
        if failure:
            print(f"twingym: error: deploy {failure}", file=sys.stderr)
            raise typer.Exit(1)
