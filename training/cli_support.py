"""What ``twingym evaluate`` does: resolve the target, build controllers, evaluate on each scenario,
and hold the figures and the paired table (:class:`Evaluation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twingym.envs import make
from twingym.envs.core import Baseline
from twingym.training.config import ConfigError, parse_scalar
from twingym.training.evaluate import (
    Controller,
    EvalResult,
    HostPolicy,
    evaluate_controllers,
    paired_table,
    results_table,
)

from twingym.stats import Difference


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


@dataclass
class Evaluation:
    """What ``twingym evaluate`` measured: per scenario, every controller's :class:`EvalResult` on the
    same episode keys, and the paired table of ``subject`` (the policy, or the baseline evaluated)
    minus every other controller (oracle baselines marked)."""

    title: str
    subject: str
    reference: str | None
    oracles: tuple[str, ...]
    episodes: int
    seed: int
    results: dict[str, dict[str, EvalResult]] = field(default_factory=dict)

    def paired(self) -> list[Difference]:
        return [d for name, res in self.results.items()
                for d in paired_table(name, res, self.subject, self.oracles)]

    def tables(self) -> list[Any]:
        """One rich table of every controller's figures per scenario."""
        return [results_table(res, reference=self.reference, title=f"{self.title}: {name}", oracles=self.oracles)
                for name, res in self.results.items()]

    def to_json(self) -> dict[str, Any]:
        """``{"title", "subject", "episodes", "seed", "oracle_baselines", "scenarios": {name: {controller:
        summary}}, "paired": [rows]}``."""
        return {"title": self.title, "subject": self.subject, "episodes": self.episodes, "seed": self.seed,
                "reference": self.reference, "oracle_baselines": list(self.oracles),
                "scenarios": {name: {c: r.summary() for c, r in res.items()} for name, res in self.results.items()},
                "paired": [d.to_json() for d in self.paired()]}


NOMINAL = "nominal"


def scenario_overrides(env: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """Param overrides of the named scenarios of ``env.scenarios()`` (``all``: every one; none given:
    ``nominal`` only, the run's own parameters)."""
    available = {NOMINAL: {}, **{k: dict(v or {}) for k, v in (env.scenarios() or {}).items()}}
    if not names:
        return {NOMINAL: {}}
    if "all" in names:
        return available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ConfigError(f"twin has no scenario {unknown[0]!r}; scenarios: {', '.join(available)}, all")
    return {n: available[n] for n in dict.fromkeys(names)}


def evaluate_target(target: str, twin: str | None, episodes: int, seed: int, set_: list[str],
                    scenarios: list[str] | None = None) -> Evaluation:
    """Evaluate ``target`` (a run directory or ``baseline:NAME``) and every baseline on the same
    scenario keys, on each named scenario of the twin (default: the run's own parameters)."""
    overrides = parse_param_overrides(set_)
    policy: Controller | None = None
    if target.startswith("baseline:"):
        if not twin:
            raise ConfigError("evaluate baseline:NAME needs --twin ID")
        base_params: dict[str, Any] = {}
        env, _ = make(twin, **overrides)
        subject = target.split(":", 1)[1]
        baselines = env.baselines()
        if subject not in baselines:
            raise ConfigError(f"twin {twin} has no baseline {subject!r}; baselines: "
                              f"{', '.join(baselines) or 'none'}")
        title = f"{twin}: baseline {subject}"
    else:
        from twingym.training.driver import run_config

        cfg = run_config(target)
        if twin and twin != cfg.twin:
            raise ConfigError(f"run {target!r} was trained on {cfg.twin}, not {twin}")
        twin, base_params, subject = cfg.twin, dict(cfg.env_params), "policy"
        env, _ = make(twin, **{**base_params, **overrides})
        policy = run_policy_controller(Path(target))
        title = f"{cfg.twin}: run {Path(target).name} ({cfg.backend})"
    evaluation = Evaluation(f"{title}, {episodes} episodes, seed {seed}", subject, env.reference_baseline,
                            tuple(env.oracle_baselines), episodes, seed)
    for name, scenario in scenario_overrides(env, list(scenarios or [])).items():
        env, params = make(twin, **{**base_params, **scenario, **overrides})
        controllers: dict[str, Controller] = {"policy": policy} if policy is not None else {}
        controllers.update(env.baselines())
        evaluation.results[name] = evaluate_controllers(env, params, controllers, episodes, seed)
    return evaluation
