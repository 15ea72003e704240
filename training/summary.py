"""Shared end-of-run and during-run evaluation: the policy against the twin's reference baseline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from twingym.envs.core import TwinEnv
from twingym.training.config import TrainConfig
from twingym.training.evaluate import Controller, EvalResult, evaluate_controllers, paired_difference
from twingym.training.run_dir import write_summary

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


def evaluate_against_reference(env: TwinEnv, params: Any, policy: Controller, episodes: int, seed: int,
                               cache: dict | None = None) -> dict[str, EvalResult]:
    """``{"policy": ..., <reference name>: ...}`` on the same scenario keys.

    ``cache`` (a dict kept by the caller) remembers the reference's result per (episodes, seed): it
    does not change while the policy trains.
    """
    results = evaluate_controllers(env, params, {"policy": policy}, episodes, seed)
    ref = reference_controller(env)
    if ref is not None:
        key = (ref[0], episodes, seed)
        if cache is None or key not in cache:
            res = evaluate_controllers(env, params, {ref[0]: ref[1]}, episodes, seed)[ref[0]]
            if cache is not None:
                cache[key] = res
        results[ref[0]] = cache[key] if cache is not None else res
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
    """Final evaluation over ``cfg.eval.episodes`` episodes; write and return ``summary.json``.

    With a ``logger`` (``RunLogger``) the final figures also go to TensorBoard/``metrics.jsonl``
    (``eval/return``, ``eval/reference_return``) at ``env_steps``.
    """
    t0 = time.time()
    results = evaluate_against_reference(env, params, policy, cfg.eval.episodes, cfg.eval.seed, cache)
    if logger is not None:
        logger.log(env_steps, eval_metrics(results))
    final: dict[str, Any] = {"episodes": cfg.eval.episodes, "seed": cfg.eval.seed,
                             "policy": results["policy"].summary(), "reference": None}
    ref = reference_controller(env)
    if ref is not None:
        final["reference"] = ref[0]
        final["reference_eval"] = results[ref[0]].summary()
        final["difference"] = paired_difference(results["policy"], results[ref[0]])
    final["eval_time_s"] = round(time.time() - t0, 2)
    summary = {"backend": cfg.backend, "twin": cfg.twin, "env_params": cfg.env_params, "seed": cfg.seed,
               "env_steps": int(env_steps), "wall_time_s": round(wall_time, 2),
               "steps_per_s": round(env_steps / max(wall_time, 1e-9), 1), "final_eval": final,
               "run_dir": str(run_dir)}
    summary.update(extra or {})
    write_summary(run_dir, summary)
    return summary
