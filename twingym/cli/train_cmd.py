"""CLI verbs: train,evaluate,sweep (issue #6)."""

from __future__ import annotations

import typer

from twingym.cli.errors import waits_for


def register(app: typer.Typer) -> None:
    @app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _train(ctx: typer.Context) -> None:
        """(waits for issue #6)"""
        waits_for("train", 6)

    @app.command("evaluate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _evaluate(ctx: typer.Context) -> None:
        """(waits for issue #6)"""
        waits_for("evaluate", 6)

    @app.command("sweep", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _sweep(ctx: typer.Context) -> None:
        """(waits for issue #6)"""
        waits_for("sweep", 6)

