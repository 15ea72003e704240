"""CLI verbs: bench (issue #9)."""

from __future__ import annotations

import typer

from twingym.cli.errors import waits_for


def register(app: typer.Typer) -> None:
    @app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _bench(ctx: typer.Context) -> None:
        """(waits for issue #9)"""
        waits_for("bench", 9)

