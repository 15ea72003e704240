"""CLI verb ``twingym envs``: list the registered twins; ``twingym envs info ID``: one twin in full;
``twingym envs check ID_OR_MODULE:CLASS``: run the env kit on a twin (registered or not;
``MODULE`` is imported from the current folder or the installed packages)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def describe_space(space) -> str:
    """Short human description of a twingym space, e.g. ``Box(9,) [-25, 25]``."""
    name = type(space).__name__
    if name == "Box":
        low, high = space.low_array, space.high_array
        bounds = f"[{low.min():g}, {high.max():g}]"
        return f"Box{space.shape} {bounds}"
    if name == "Discrete":
        return f"Discrete({space.n})"
    if name == "MultiDiscrete":
        return f"MultiDiscrete({list(space.nvec)})"
    return repr(space)


def _components_table(title: str, components) -> Table:
    table = Table(title=title)
    for column in ("#", "asset", "name", "unit", "low", "high"):
        table.add_column(column, no_wrap=column != "name")
    for c in components:
        table.add_row(str(c.index), *map(escape, c.label), f"{c.low:g}", f"{c.high:g}")
    return table


def show_info(twin_id: str, console: Console) -> None:
    """Print spaces, labelled components, parameters with units, scenarios and baselines of a twin."""
    from twingym.envs import make, spec
    from twingym.envs.describe import describe

    env, params = make(twin_id)
    info = describe(env, params, twin_id, spec(twin_id).description)
    console.print(f"[bold]{info.twin_id}[/]: {escape(info.description)}")
    if info.summary:
        console.print(info.summary, markup=False)
    console.print(f"observation space: {describe_space(env.observation_space(params))}; "
                  f"action space: {describe_space(env.action_space(params))}", markup=False)
    console.print(_components_table("observation components", info.observation))
    console.print(_components_table("action components", info.action))
    params_table = Table(title="parameters (override with env_params / --param NAME=VALUE)")
    for column in ("name", "default", "unit and meaning"):
        params_table.add_column(column, no_wrap=column == "name")
    for p in info.params:
        params_table.add_row(p.name, escape(p.value), escape(p.doc))
    console.print(params_table)
    scen = Table(title="scenarios (validation suite)")
    scen.add_column("name", no_wrap=True)
    scen.add_column("parameter overrides")
    for name, overrides in info.scenarios.items():
        scen.add_row(name, escape(", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in overrides.items()) or "-"))
    console.print(scen)
    marks = [f"{b} (reference)" if b == info.reference_baseline else b for b in info.baselines]
    console.print("baselines: " + (", ".join(marks) or "-"), markup=False)


def run_kit(twin: str, steps: int, only: list[str] | None) -> None:
    """``twingym envs check``: the kit on a registered id or a ``MODULE:CLASS``, as a table; exit 1 on
    a failed check, one line (:class:`UserError`) on a twin that cannot be loaded."""
    from twingym.cli.errors import UserError
    from twingym.envs import check_twin, registered
    from twingym.envs.registry import load_class

    if ":" in twin:
        import os
        import sys

        if os.getcwd() not in sys.path:  # MODULE:CLASS resolves from here, as with ``python -m``
            sys.path.insert(0, os.getcwd())
        try:
            target = load_class(twin)()
        except (ImportError, AttributeError) as exc:
            raise UserError(f"cannot import {twin}: {exc}") from None
    elif twin in registered():
        target = twin
    else:
        raise UserError(f"unknown twin {twin!r}: give a registered id ({', '.join(sorted(registered()))}) "
                        "or MODULE:CLASS")
    try:
        results = check_twin(target, checks=only or None, rollout_steps=steps, raise_on_failure=False)
    except ValueError as exc:  # an unknown --only name
        raise UserError(str(exc)) from None
    table = Table(title=f"env kit on {twin}")
    for column in ("check", "verdict", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    style = {"passed": "[green]pass[/]", "failed": "[red]FAIL[/]", "skipped": "[yellow]skip[/]"}
    for r in results:
        table.add_row(r.name, style[r.status], escape(r.detail))
    Console().print(table)
    failed = [r.name for r in results if r.status == "failed"]
    if failed:
        Console(stderr=True).print(f"{twin}: {len(failed)} check(s) failed: {', '.join(failed)}", markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    envs_app = typer.Typer(help="The registered twins: `twingym envs` lists them, `twingym envs info ID` "
                                "shows one in full.", invoke_without_command=True)

    @envs_app.callback()
    def envs(ctx: typer.Context) -> None:
        """List the registered twins with their observation and action spaces."""
        if ctx.invoked_subcommand is not None:
            return
        from twingym.envs import make, registered

        specs = registered()
        table = Table(title="twingym twins (details: twingym envs info ID)")
        for column in ("id", "observation space", "action space", "baselines", "description"):
            table.add_column(column, no_wrap=column == "id")
        for twin_id in sorted(specs):
            env, params = make(twin_id)
            table.add_row(twin_id, describe_space(env.observation_space(params)),
                          describe_space(env.action_space(params)),
                          ", ".join(env.baselines()) or "-", specs[twin_id].description)
        Console().print(table)

    @envs_app.command("info")
    def info(twin: str = typer.Argument(..., help="Twin id, e.g. WindFarm-v0.")) -> None:
        """One twin in full: spaces, labelled components with units and bounds, parameters with units,
        scenarios and baselines."""
        import sys

        show_info(twin, Console() if sys.stdout.isatty() else Console(width=160))

    @envs_app.command("check")
    def check(
        twin: str = typer.Argument(..., help="Registered twin id (WindFarm-v0) or an importable "
                                   "MODULE:CLASS of a TwinEnv (checked with its default params)."),
        steps: int = typer.Option(1000, min=1, help="Length of the single-copy random rollouts."),
        only: list[str] | None = typer.Option(None, "--only", help="Run only this check (repeatable)."),
    ) -> None:
        """Run the env kit on a twin: gymnasium and SB3 checkers, determinism, bounds, batching,
        compilation, adapters, render, baselines, labels and scenarios. Exit 1 when a check fails."""
        run_kit(twin, steps, only)

    app.add_typer(envs_app, name="envs")
