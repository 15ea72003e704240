"""CLI verb ``twingym bench``: throughput and scaling against peers, as a table and JSON."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        quick: bool = typer.Option(False, "--quick", help="Small batches and budgets (under 3 minutes)."),
        json_out: Path = typer.Option(None, "--json", help="Write the records as JSON to this file."),
        only: list[str] = typer.Option(None, "--only", help="Run only these sections (repeatable)."),
    ) -> None:
        """Benchmark the twins, peers (FLORIS, pandapower, gymnax) and training backends."""
        from twingym.bench.runner import run_bench

        failures = run_bench(quick=quick, only=only, json_path=json_out)
        if failures:
            raise typer.Exit(1)
