"""CLI verbs: pipeline (issue #8)."""

from __future__ import annotations

import typer

from twingym.cli.errors import waits_for


def register(app: typer.Typer) -> None:
    @app.command("pipeline", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _pipeline(ctx: typer.Context) -> None:
        """(waits for issue #8)"""
        waits_for("pipeline", 8)

