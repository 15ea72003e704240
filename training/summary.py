"""Shared end-of-run and during-run evaluation of a trained policy on common scenario keys.

During training the policy is compared with the twin's reference baseline (TensorBoard scalars).
At the end of a run (:func:`finish_run`, ``summary.json``) it is compared with every baseline: the
``final_eval`` keeps the reference comparison (``reference``, ``reference_eval``, ``difference``) and
adds ``baselines`` (each baseline's summary) and ``paired``, the paired table of policy minus every
baseline (rows of :class:`twingym.stats.Difference`: mean, 95 % interval, n, verdict; oracle
baselines, which see what a real controller cannot, marked and listed last).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from twingym.envs.core import TwinEnv
from twingym.training.config import TrainConfig
from twingym.training.evaluate import (
    Controller,
    EvalResult,
    evaluate_controllers,
    paired_difference,
    paired_table,
)
from twingym.training.run_dir import write_summary

#: the scenario name of the end-of-run evaluation's rows (the run's own twin parameters)
FINAL_EVAL = "final eval"

_BASELINES: dict[int, tuple[TwinEnv, dict]] = {}


def cached_baselines(env: TwinEnv) -> dict:
    """``env.baselines()``, built once per env object (same functions -> compiled rollouts reused)."""
    hit = _BASELINES.get(id(env))
    if hit is None or hit[0] is not env:
        hit = _BASELINES[id(env)] = (env, env.baselines())
    return hit[1]


def reference_controller(env: TwinEnv) -> tuple[str, Controller] | None:
    """The twin's reference baseline as ``(name, controller)``, or None when it has none."""
    name = env.reference_baseline
    if not name:
        return None
    baselines = cached_baselines(env)
    if name not in baselines:
        return None
    return name, baselines[name]


def _cached(env: TwinEnv, params: Any, name: str, controller: Controller, episodes: int, seed: int,
            cache: dict | None) -> EvalResult:
    """A baseline's result on (episodes, seed), remembered in ``cache``: it does not change while the
    policy trains."""
    key = (name, episodes, seed)
    if cache is not None and key in cache:
        return cache[key]
    res = evaluate_controllers(env, params, {name: controller}, episodes, seed)[name]
    if cache is not None:
        cache[key] = res
    return res


def evaluate_against_reference(env: TwinEnv, params: Any, policy: Controller, episodes: int, seed: int,
                               cache: dict | None = None) -> dict[str, EvalResult]:
    """``{"policy": ..., <reference name>: ...}`` on the same scenario keys.

    ``cache`` (a dict kept by the caller) remembers the reference's result per (episodes, seed).
    """
    results = evaluate_controllers(env, params, {"policy": policy}, episodes, seed)
    ref = reference_controller(env)
    if ref is not None:
        results[ref[0]] = _cached(env, params, ref[0], ref[1], episodes, seed, cache)
    return results


def evaluate_against_baselines(env: TwinEnv, params: Any, policy: Controller, episodes: int, seed: int,
                               cache: dict | None = None) -> dict[str, EvalResult]:
    """``{"policy": ..., <every baseline>: ...}`` on the same scenario keys (baselines cached)."""
    results = evaluate_controllers(env, params, {"policy": policy}, episodes, seed)
    for name, controller in cached_baselines(env).items():
        results[name] = _cached(env, params, name, controller, episodes, seed, cache)
    return results


def eval_metrics(results: dict[str, EvalResult]) -> dict[str, float]:
    """TensorBoard scalars of an evaluation during training."""
    out = {"eval/return": float(results["policy"].returns.mean()),
           "eval/cost": float(results["policy"].costs.mean())}
    for name, res in results.items():
        if name != "policy":
            out["eval/reference_return"] = float(res.returns.mean())
            diff = paired_difference(results["policy"], res)
            out["eval/difference"] = diff["mean"]
            out["eval/difference_ci_low"] = diff["ci_low"]
            out["eval/difference_ci_high"] = diff["ci_high"]
    return out


def finish_run(run_dir: Path, cfg: TrainConfig, env: TwinEnv, params: Any, policy: Controller,
               env_steps: int, wall_time: float, extra: dict[str, Any] | None = None,
               cache: dict | None = None, logger: Any = None) -> dict[str, Any]:
    """Final evaluation over ``cfg.eval.episodes`` episodes against every baseline; write and return
    ``summary.json``.

    With a ``logger`` (``RunLogger``) the final figures also go to TensorBoard/``metrics.jsonl``
    (``eval/return``, ``eval/reference_return``) at ``env_steps``.
    """
    t0 = time.time()
    results = evaluate_against_baselines(env, params, policy, cfg.eval.episodes, cfg.eval.seed, cache)
    ref = reference_controller(env)
    if logger is not None:
        logger.log(env_steps, eval_metrics({n: r for n, r in results.items() if n == "policy" or
                                            (ref is not None and n == ref[0])}))
    final: dict[str, Any] = {"episodes": cfg.eval.episodes, "seed": cfg.eval.seed,
                             "policy": results["policy"].summary(), "reference": None}
    if ref is not None:
        final["reference"] = ref[0]
        final["reference_eval"] = results[ref[0]].summary()
        final["difference"] = paired_difference(results["policy"], results[ref[0]])
    final["baselines"] = {n: r.summary() for n, r in results.items() if n != "policy"}
    final["oracle_baselines"] = list(env.oracle_baselines)
    final["paired"] = [d.to_json() for d in paired_table(FINAL_EVAL, results, "policy", env.oracle_baselines)]
    final["eval_time_s"] = round(time.time() - t0, 2)
    summary = {"backend": cfg.backend, "twin": cfg.twin, "env_params": cfg.env_params, "seed": cfg.seed,
               "env_steps": int(env_steps), "wall_time_s": round(wall_time, 2),
               "steps_per_s": round(env_steps / max(wall_time, 1e-9), 1), "final_eval": final,
               "run_dir": str(run_dir)}
    summary.update(extra or {})
    write_summary(run_dir, summary)
    return summary
