"""The ``twingym`` command: one typer app; each verb group lives in its own module.

This is the only place that knows every package. Errors a user can act on (unknown twin, bad config
key, missing file, tampered bundle) print one line and exit non-zero; see :func:`main`.
"""

from __future__ import annotations

import sys

from twingym.host_devices import use_every_core

use_every_core()  # before anything starts JAX's CPU backend

import typer  # noqa: E402

from twingym.cli import (  # noqa: E402
    bench_cmd,
    dashboard_cmd,
    envs_cmd,
    keys_cmd,
    live_cmd,
    pipeline_cmd,
    policy_cmd,
    train_cmd,
)
from twingym.cli.errors import UserError, run_guarded  # noqa: E402

app = typer.Typer(
    name="twingym",
    help="Reinforcement-learning gym for industrial digital twins: train, export, validate, serve, deploy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

envs_cmd.register(app)
train_cmd.register(app)
policy_cmd.register(app)
live_cmd.register(app)
dashboard_cmd.register(app)
bench_cmd.register(app)
pipeline_cmd.register(app)
keys_cmd.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning user errors into one line and exit code 2."""
    args = sys.argv[1:] if argv is None else argv
    sys.exit(run_guarded(app, dashboard_cmd.expand_optional_port(list(args))))


__all__ = ["UserError", "app", "main"]
