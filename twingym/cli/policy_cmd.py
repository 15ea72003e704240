"""CLI verbs: export,validate,inspect (issue #7)."""

from __future__ import annotations

import typer

from twingym.cli.errors import waits_for


def register(app: typer.Typer) -> None:
    @app.command("export", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _export(ctx: typer.Context) -> None:
        """(waits for issue #7)"""
        waits_for("export", 7)

    @app.command("validate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _validate(ctx: typer.Context) -> None:
        """(waits for issue #7)"""
        waits_for("validate", 7)

    @app.command("inspect", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _inspect(ctx: typer.Context) -> None:
        """(waits for issue #7)"""
        waits_for("inspect", 7)

