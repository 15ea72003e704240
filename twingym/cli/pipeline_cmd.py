"""CLI verb ``twingym pipeline``: the main job, end to end on embedded defaults.

Stages (each skipped with a note when the feature it needs has not landed yet):
1. tour: every registered twin is built and stepped under its reference baseline for one episode;
2. train, export, validate, serve, deploy (issues #6, #7, #8).
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from twingym.envs import BUILTIN_TWINS, make

console = Console()


@partial(jax.jit, static_argnums=(0, 3, 4))
def _baseline_episode(env, params, key, baseline_name: str | None, batch: int):
    """Mean return and cost of ``batch`` copies over one episode (``params.max_steps`` steps)."""
    keys = jax.random.split(key, batch)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    space = env.action_space(params)
    baseline = env.baselines().get(baseline_name) if baseline_name else None
    carry = jax.vmap(lambda _: baseline.init(params))(jnp.arange(batch)) if baseline else None

    def body(loop, k):
        obs, state, carry, ret, cost, alive = loop
        k_act, k_step = jax.random.split(k)
        if baseline is None:
            action = jax.vmap(space.sample)(jax.random.split(k_act, batch))
        else:
            action, carry = jax.vmap(baseline.act, in_axes=(0, 0, None))(carry, obs, params)
        obs, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None))(jax.random.split(k_step, batch), state, action, params)
        ret = ret + alive * reward
        cost = cost + alive * info["cost"]
        alive = alive * (1.0 - (terminated | truncated))
        return (obs, state, carry, ret, cost, alive), None

    zeros = jnp.zeros(batch)
    init = (obs, state, carry, zeros, zeros, jnp.ones(batch))
    (_, _, _, ret, cost, _), _ = jax.lax.scan(body, init, jax.random.split(key, params.max_steps))
    return ret, cost


def twin_tour(batch: int = 16) -> None:
    """Step every built-in twin for one episode under its reference baseline and a random policy."""
    table = Table(title=f"twin tour: one episode, {batch} copies each")
    for col in ("twin", "steps", "policy", "mean return", "mean cost", "wall s"):
        table.add_column(col)
    for twin_id in sorted(BUILTIN_TWINS):
        env, params = make(twin_id)
        has_jit_ref = (env.reference_baseline is not None
                       and env.baselines()[env.reference_baseline].jittable)
        for name in ([env.reference_baseline] if has_jit_ref else []) + [None]:
            start = time.perf_counter()
            ret, cost = jax.device_get(_baseline_episode(env, params, jax.random.key(0), name, batch))
            table.add_row(twin_id, str(params.max_steps), name or "random", f"{np.mean(ret):.3f}",
                          f"{np.mean(cost):.3f}", f"{time.perf_counter() - start:.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("pipeline")
    def pipeline() -> None:
        """Main job: train, export, validate, serve and deploy the default wind-farm policy."""
        console.rule("twingym pipeline")
        twin_tour()
        console.print("[yellow]train/export/validate/serve/deploy stages wait for issues #6-#8[/]")
