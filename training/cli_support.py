"""What ``twingym evaluate`` does: resolve the target, build controllers, evaluate, make the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twingym.envs import make
from twingym.envs.core import Baseline
from twingym.training.config import ConfigError, parse_scalar
from twingym.training.evaluate import Controller, HostPolicy, evaluate_controllers, results_table


def parse_param_overrides(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects name=value, got {item!r}")
        out[key.strip()] = parse_scalar(value)
    return out


def run_policy_controller(run_dir: Path) -> Controller:
    """The final policy of a run as a controller (jittable for JAX, host-side for torch)."""
    from twingym.agents import load_actor

    act, jittable = load_actor(run_dir)
    if jittable:
        return Baseline("policy", lambda p: (), lambda c, obs, p: (act(obs[None])[0], c))
    return HostPolicy("policy", act)


def evaluate_target(target: str, twin: str | None, episodes: int, seed: int, set_: list[str]):
    """Evaluate ``target`` (a run directory or ``baseline:NAME``) and every baseline; a rich table."""
    overrides = parse_param_overrides(set_)
    controllers: dict[str, Controller] = {}
    if target.startswith("baseline:"):
        if not twin:
            raise ConfigError("evaluate baseline:NAME needs --twin ID")
        env, params = make(twin, **overrides)
        name = target.split(":", 1)[1]
        baselines = env.baselines()
        if name not in baselines:
            raise ConfigError(f"twin {twin} has no baseline {name!r}; baselines: "
                              f"{', '.join(baselines) or 'none'}")
        title = f"{twin}: baseline {name}"
    else:
        from twingym.training.driver import run_config

        cfg = run_config(target)
        if twin and twin != cfg.twin:
            raise ConfigError(f"run {target!r} was trained on {cfg.twin}, not {twin}")
        env, params = make(cfg.twin, **{**cfg.env_params, **overrides})
        controllers["policy"] = run_policy_controller(Path(target))
        title = f"{cfg.twin}: run {Path(target).name} ({cfg.backend})"
    controllers.update(env.baselines())
    results = evaluate_controllers(env, params, controllers, episodes, seed)
    return results_table(results, reference=env.reference_baseline,
                         title=f"{title}, {episodes} episodes, seed {seed}")
