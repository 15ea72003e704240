"""Grid search of the classical baselines' parameters, on tuning seeds kept apart from evaluation.

A twin opts in with two methods:

* ``baseline_grid() -> {baseline name: (params field, values)}``: the baselines that read a tunable
  field of the twin's params (a maintenance period, a wear threshold) and the grid to search;
* ``tuned_baselines_file() -> Path``: the file its default params read the tuned values from.

:func:`tune_baselines` rolls every grid value out on the same ``episodes`` tuning episodes (common
random numbers, keys from :data:`TUNING_SEED`), scores each by its mean return (the reward the
policies are trained on) and keeps the argmax per baseline; ties go to the earlier grid value.
The figures of every grid value are the twin's KPIs (:mod:`twingym.policies.kpis`) per 8-h shift
with 95 % Student-t intervals. :func:`write_tuned` records the chosen values with the table, the
seed and the command, so ``make`` (and ``evaluate``, ``validate``, training) uses the tuned
baselines from then on and the tuning can be reproduced from the file alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.core import Baseline, TwinEnv
from twingym.policies.kpis import Kpi, episode_figures, kpis_for, step_seconds
from twingym.policies.paired import paired_interval

#: root seed of the tuning episodes (evaluation uses --seed, 12345 by default; validation 0..)
TUNING_SEED = 7_001
#: episodes per grid value
TUNING_EPISODES = 256
SHIFT_HOURS = 8.0


@dataclass(frozen=True)
class GridPoint:
    """One grid value of one baseline: per-episode ``returns`` (E,) and KPI figures per shift (E,)."""

    baseline: str
    field: str
    value: float
    returns: np.ndarray
    kpis: dict[str, np.ndarray]

    @property
    def score(self) -> float:
        return float(np.mean(self.returns))


@dataclass
class Tuning:
    """The grid search: every point in grid order, the chosen one per baseline, how it was run."""

    twin: str
    seed: int
    episodes: int
    overrides: dict[str, Any]
    points: list[GridPoint]
    kpis: tuple[Kpi, ...] = ()
    chosen: dict[str, GridPoint] = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """The chosen ``{params field: value}``."""
        return {p.field: p.value for p in self.chosen.values()}

    def rows(self) -> list[dict[str, Any]]:
        """The table as plain rows: baseline, field, value, return and each KPI (mean, low, high)."""
        out = []
        for p in self.points:
            row = {"baseline": p.baseline, "field": p.field, "value": p.value,
                   "chosen": self.chosen[p.baseline] is p, "return": list(paired_interval(p.returns))}
            row.update({k: list(paired_interval(v)) for k, v in p.kpis.items()})
            out.append(row)
        return out


def tuning_keys(seed: int, episodes: int) -> jax.Array:
    """The ``(episodes, 2)`` episode keys of a tuning run (``split(PRNGKey(seed))``)."""
    return jax.random.split(jax.random.PRNGKey(seed), episodes)


def check_disjoint(tuning: jax.Array, evaluation: jax.Array) -> None:
    """Raise ``ValueError`` when a tuning episode key is also an evaluation episode key."""
    t = {tuple(k) for k in np.asarray(tuning).tolist()}
    shared = t & {tuple(k) for k in np.asarray(evaluation).tolist()}
    if shared:
        raise ValueError(f"{len(shared)} tuning episodes are also evaluation episodes: use another tuning seed")


def _rollout_impl(env, act, kpis, num_steps, keys, params, carry0):
    """Returns ``(rewards (E, T), done (E, T), kpi steps (E, T, K))`` of one jittable controller."""

    def episode(key):
        k_reset, k_steps = jax.random.split(key)
        obs, state = env.reset(k_reset, params)

        def step(c, k):
            obs, state, carry = c
            action, carry = act(carry, obs, params)
            obs, state, reward, term, trunc, info = env.step(k, state, action, params)
            figures = jnp.stack([jnp.asarray(kpi.step(info, params), jnp.float32) for kpi in kpis]) if kpis \
                else jnp.zeros((0,), jnp.float32)
            return (obs, state, carry), (reward, term | trunc, figures)

        _, out = jax.lax.scan(step, (obs, state, carry0), jax.random.split(k_steps, num_steps))
        return out

    return jax.vmap(episode)(keys)


_rollout = jax.jit(_rollout_impl, static_argnums=(0, 1, 2, 3))


def evaluate_point(env: TwinEnv, params: Any, baseline: Baseline, keys: jax.Array,
                   kpis: tuple[Kpi, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-episode return (E,) and KPI figures per 8-h shift (E,) of ``baseline`` on ``keys``.

    A KPI whose key ends in ``_per_shift`` is already per shift; every other one (a sum over the
    episode: EUR, station-h, kWh) is scaled by ``8 h / episode hours``.
    """
    num_steps = int(params.max_steps)
    rewards, done, figures = (np.asarray(x) for x in _rollout(env, baseline.act, kpis, num_steps, keys, params,
                                                                 baseline.init(params)))
    done_before = np.concatenate([np.zeros_like(done[:, :1]), np.logical_or.accumulate(done, axis=1)[:, :-1]], 1)
    alive = ~done_before
    returns = (rewards * alive).sum(1).astype(np.float64)
    lengths = alive.sum(1)
    hours = lengths * step_seconds(params) / 3600.0
    out = {}
    for j, kpi in enumerate(kpis):
        per_episode = episode_figures(kpi, (figures[:, :, j] * alive).T, lengths, params)
        out[kpi.key] = per_episode if kpi.key.endswith("_per_shift") else per_episode * SHIFT_HOURS / hours
    return returns, out


def tune_baselines(env: TwinEnv, params: Any, *, episodes: int = TUNING_EPISODES, seed: int = TUNING_SEED,
                   twin_id: str | None = None, overrides: dict[str, Any] | None = None,
                   grid: dict[str, tuple[str, tuple[float, ...]]] | None = None) -> Tuning:
    """Grid-search every baseline of ``grid`` (default ``env.baseline_grid()``) on ``params``; the argmax
    of the mean return per baseline is ``chosen``. Deterministic for a seed."""
    grid = tunable(env) if grid is None else grid
    twin_id = twin_id or env.id
    kpis = kpis_for(twin_id)
    keys = tuning_keys(seed, episodes)
    baselines = env.baselines()
    tuning = Tuning(twin_id, seed, episodes, dict(overrides or {}), [], kpis)
    for name, (param, values) in grid.items():
        points = []
        for value in values:
            p = env.replace_params(params, **{param: type(getattr(params, param))(value)})
            returns, figures = evaluate_point(env, p, baselines[name], keys, kpis)
            points.append(GridPoint(name, param, float(value), returns, figures))
        tuning.points += points
        tuning.chosen[name] = points[int(np.argmax([pt.score for pt in points]))]
    return tuning


def tunable(env: TwinEnv) -> dict[str, tuple[str, tuple[float, ...]]]:
    """The twin's ``baseline_grid()``; ``ValueError`` when it has none."""
    grid = getattr(env, "baseline_grid", lambda: {})()
    if not grid:
        raise ValueError(f"twin {env.id or type(env).__name__} has no tunable baselines (no baseline_grid)")
    return grid


def write_tuned(env: TwinEnv, tuning: Tuning, command: str, path: Path | None = None) -> Path:
    """Write the chosen values and the whole table to the twin's tuned-baselines file; its path."""
    path = Path(path) if path is not None else env.tuned_baselines_file()
    values = {k: (int(v) if isinstance(getattr(env.default_params(), k), int) else v)
              for k, v in tuning.values().items()}
    record = {"twin": tuning.twin, "values": values,
              "tuning": {"command": command, "seed": tuning.seed, "episodes": tuning.episodes,
                         "objective": "mean return", "figures": "KPIs per 8-h shift: mean, 95 % low, high",
                         "overrides": tuning.overrides, "table": tuning.rows()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=float) + "\n")
    tmp.replace(path)
    return path


def tuning_tables(tuning: Tuning) -> list:
    """One rich table per tuned baseline: value -> return and every KPI per shift, with 95 % intervals."""
    from rich.table import Table

    tables = []
    for name, chosen in tuning.chosen.items():
        table = Table(title=f"{tuning.twin}: {name}, grid over {chosen.field} ({tuning.episodes} tuning "
                            f"episodes, seed {tuning.seed}); * = chosen")
        table.add_column(chosen.field, justify="right")
        table.add_column("mean return [95%]", justify="right")
        for kpi in tuning.kpis:
            unit = kpi.unit if kpi.key.endswith("_per_shift") else f"{kpi.unit}/shift"
            table.add_column(f"{kpi.name} [{unit}]", justify="right")
        for p in (p for p in tuning.points if p.baseline == name):
            cells = [_ci(p.returns)] + [_ci(p.kpis[k.key]) for k in tuning.kpis]
            table.add_row(f"{p.value:g}" + (" *" if p is chosen else ""), *cells)
        tables.append(table)
    return tables


def _ci(x: np.ndarray) -> str:
    mean, lo, hi = paired_interval(x)
    return f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


def tune_target(target: str, twin: str | None, set_: list[str], eval_seed: int, eval_episodes: int,
                argv: list[str] | None = None) -> list:
    """What ``twingym evaluate TARGET --tune-baselines`` does before evaluating: tune the baselines of
    the target's twin (a run's twin with its env params, or ``--twin``) on the tuning seeds, check they
    share no episode with the evaluation, write the tuned file; rich renderables to print."""
    import sys

    from twingym.envs import make
    from twingym.training.cli_support import parse_param_overrides
    from twingym.training.config import ConfigError
    from twingym.training.evaluate import episode_keys

    overrides = parse_param_overrides(set_)
    if target.startswith("baseline:"):
        if not twin:
            raise ConfigError("evaluate baseline:NAME needs --twin ID")
        twin_id = twin
    else:
        from twingym.training.driver import run_config

        cfg = run_config(target)
        twin_id, overrides = cfg.twin, {**cfg.env_params, **overrides}
    env, params = make(twin_id, **overrides)
    try:
        tunable(env)
        check_disjoint(tuning_keys(TUNING_SEED, TUNING_EPISODES), episode_keys(eval_seed, eval_episodes))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    tuning = tune_baselines(env, params, episodes=TUNING_EPISODES, seed=TUNING_SEED, twin_id=twin_id,
                            overrides=overrides)
    command = " ".join(["twingym", *(argv if argv is not None else sys.argv[1:])])
    path = write_tuned(env, tuning, command)
    chosen = ", ".join(f"{k} = {v:g}" for k, v in tuning.values().items())
    return [*tuning_tables(tuning), f"tuned {chosen}; written to {path}"]
