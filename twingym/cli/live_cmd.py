"""CLI verbs: twin serve, deploy (issue #8)."""

from __future__ import annotations

import typer

from twingym.cli.errors import waits_for


def register(app: typer.Typer) -> None:
    twin_app = typer.Typer(help="The live twin: a registered twin in wall-clock time behind OPC UA.",
                           no_args_is_help=True)

    @twin_app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _serve(ctx: typer.Context) -> None:
        """(waits for issue #8)"""
        waits_for("twin serve", 8)

    app.add_typer(twin_app, name="twin")

    @app.command("deploy", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _deploy(ctx: typer.Context) -> None:
        """(waits for issue #8)"""
        waits_for("deploy", 8)
