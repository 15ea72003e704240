"""Ray RLlib PPO training into a run directory: one ``algo.train()`` per log step.

Ray: joins ``RAY_ADDRESS`` (set by ``--ray-address``) or starts a local Ray (``num_cpus`` from the
config, no dashboard) and shuts it down at the end. Checkpoints are RLlib Algorithm checkpoints
(``checkpoints/step_*/algo``); resuming restores the last one (RLlib resumes are not bit-exact).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from twingym.agents import rllib
from twingym.envs import make
from twingym.training import run_dir as rd
from twingym.training.config import TrainConfig
from twingym.training.evaluate import HostPolicy
from twingym.training.progress import TrainProgress
from twingym.training.summary import eval_metrics, evaluate_against_reference, finish_run

_LEARNER_NAMES = {"policy_loss": "loss/policy", "vf_loss": "loss/value", "entropy": "loss/entropy",
                  "mean_kl_loss": "loss/approx_kl", "default_optimizer_learning_rate": "train/learning_rate",
                  "vf_explained_var": "loss/explained_variance"}


def on_episode_end(*, episode: Any, metrics_logger: Any = None, **_: Any) -> None:
    """RLlib callback: log the episode's summed ``info["cost"]`` as ``episode_cost``."""
    if metrics_logger is None:
        return
    cost = 0.0
    for info in episode.get_infos():
        if isinstance(info, dict) and "cost" in info:
            cost += float(np.asarray(info["cost"]))
    metrics_logger.log_value("episode_cost", cost, reduce="mean", window=20)


def _get(d: dict, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _row(result: dict, rate: float) -> dict[str, float]:
    env = result.get("env_runners", {})
    row: dict[str, float] = {"perf/env_steps_per_s": rate}
    for key, name in (("episode_return_mean", "train/episode_return"), ("episode_len_mean",
                      "train/episode_length"), ("episode_cost", "train/episode_cost"),
                      ("num_episodes", "train/episodes")):
        v = env.get(key)
        if v is not None and np.isfinite(v):
            row[name] = float(v)
    learner = _get(result, "learners", "default_policy") or {}
    for key, name in _LEARNER_NAMES.items():
        v = learner.get(key)
        if v is not None:
            row[name] = float(v)
    return row


def run(cfg: TrainConfig, run_dir: Path, resume: bool = False, stop_after_chunks: int | None = None
        ) -> dict[str, Any] | None:
    """Train (or resume) RLlib PPO into ``run_dir``; returns the summary (None if stopped)."""
    import ray

    hp = cfg.agent
    env, params = make(cfg.twin, **cfg.env_params)
    started_here = not ray.is_initialized() and not os.environ.get("RAY_ADDRESS")
    rllib.init_ray(None, hp.num_cpus)  # type: ignore[union-attr]
    rllib.register_env()
    config = rllib.build_config(hp, cfg.twin, cfg.env_params, cfg.seed)  # type: ignore[arg-type]
    config = config.callbacks(on_episode_end=on_episode_end)
    algo = config.build_algo()
    checkpoints = rd.list_checkpoints(run_dir) if resume else []
    steps = int(rd.read_checkpoint_meta(checkpoints[-1])["env_steps"]) if checkpoints else 0
    logger = rd.RunLogger(run_dir, resume_step=steps if resume else None)
    try:
        if checkpoints:
            algo.restore_from_path(str((checkpoints[-1] / "algo").resolve()))
        prior_wall = float(logger.last.get("perf/wall_time_s", 0.0))
        wall0 = time.time()
        last_ckpt = last_eval = steps
        ckpt_every = cfg.checkpoint.every_steps or 1
        iterations = 0
        obs_shape = env.observation_space(params).shape
        with TrainProgress(cfg.total_steps, cfg.run.progress, start=steps) as bar:
            while steps < cfg.total_steps:
                t0 = time.time()
                result = algo.train()
                new_steps = int(_get(result, "env_runners", "num_env_steps_sampled_lifetime") or 0)
                new_steps = max(new_steps, steps + 1)
                row = _row(result, (new_steps - steps) / max(time.time() - t0, 1e-9))
                steps = new_steps
                row["perf/wall_time_s"] = prior_wall + time.time() - wall0
                logger.log(steps, row)
                bar.update(steps, row.get("train/episode_return"), rate=row["perf/env_steps_per_s"])
                iterations += 1
                if steps - last_ckpt >= ckpt_every or steps >= cfg.total_steps:
                    rd.save_checkpoint(run_dir, steps,
                                       lambda path: algo.save_to_path(str((path / "algo").resolve())),
                                       {"backend": "rllib_ppo", "env_steps": steps}, cfg.checkpoint.keep)
                    last_ckpt = steps
                if cfg.eval.every_steps and steps - last_eval >= cfg.eval.every_steps:
                    rllib.sync_obs_filters(algo)
                    tmp = run_dir / "checkpoints" / "_eval_policy"
                    rllib.save_policy(algo, tmp, obs_shape)
                    results = evaluate_against_reference(env, params, HostPolicy("policy", rllib.load_actor(tmp)),
                                                         cfg.eval.during_episodes, cfg.eval.seed)
                    logger.log(steps, eval_metrics(results))
                    last_eval = steps
                if stop_after_chunks is not None and iterations >= stop_after_chunks and steps < cfg.total_steps:
                    return None
        wall = prior_wall + time.time() - wall0
        rllib.sync_obs_filters(algo)
        rllib.save_policy(algo, run_dir / rd.FINAL, obs_shape)
        policy = HostPolicy("policy", rllib.load_actor(run_dir / rd.FINAL))
        return finish_run(run_dir, cfg, env, params, policy, steps, wall,
                          logger=logger,
                          extra={"final_train_return": logger.last.get("train/episode_return"),
                                 "ray_address": os.environ.get("RAY_ADDRESS") or "local"})
    finally:
        logger.close()
        algo.stop()
        if started_here:
            ray.shutdown()
