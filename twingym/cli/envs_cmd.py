"""CLI verb ``twingym envs``: list the registered twins with their spaces."""

from __future__ import annotations

import typer
from rich.console import Console
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


def register(app: typer.Typer) -> None:
    @app.command("envs")
    def envs(twin: str = typer.Argument(None, help="Show one twin only (e.g. WindFarm-v0).")) -> None:
        """List the registered twins with their observation and action spaces."""
        from twingym.envs import make, registered

        specs = registered()
        ids = [twin] if twin else sorted(specs)
        table = Table(title="twingym twins")
        for column in ("id", "observation space", "action space", "baselines", "description"):
            table.add_column(column, no_wrap=column == "id")
        for twin_id in ids:
            env, params = make(twin_id)
            table.add_row(twin_id, describe_space(env.observation_space(params)),
                          describe_space(env.action_space(params)),
                          ", ".join(env.baselines()) or "-", specs[twin_id].description)
        Console().print(table)
