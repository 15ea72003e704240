"""Ray RLlib PPO training into a run directory: one ``algo.train()`` per log step.

Ray (:mod:`twingym.training.ray_session`): joins ``RAY_ADDRESS`` (set by ``--ray-address``) or
starts a private local Ray (``num_cpus`` from the config, no dashboard) and shuts it down at the end.
The Algorithm runs in an :class:`~twingym.agents.rllib.AlgorithmHost` actor whose placement group
also holds its env runners and learners (:func:`~twingym.agents.rllib.start_host`); the driver keeps
the run directory and receives results and policy archives as values.

Checkpoints: ``checkpoints/step_*/meta.json`` in the run directory names the RLlib Algorithm
checkpoint, written by the host to ``<run.storage>/<run name>/step_*/algo`` (a path every node can
reach) or, without ``run.storage``, to ``checkpoints/step_*/algo``. Resuming restores the last one
(RLlib resumes are not bit-exact).
"""

from __future__ import annotations

import contextlib
import shutil
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
from twingym.training.ray_session import cluster_gpus, ray_session
from twingym.training.summary import eval_metrics, evaluate_against_reference, finish_run

_LEARNER_NAMES = {"policy_loss": "loss/policy", "vf_loss": "loss/value", "entropy": "loss/entropy",
                  "mean_kl_loss": "loss/approx_kl", "default_optimizer_learning_rate": "train/learning_rate",
                  "vf_explained_var": "loss/explained_variance"}


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


def algo_checkpoint_path(cfg: TrainConfig, run_dir: Path, step_dir: Path) -> Path:
    """Where the Algorithm checkpoint of ``step_dir`` goes: under ``run.storage`` when set."""
    if cfg.run.storage:
        return Path(cfg.run.storage).expanduser().resolve() / run_dir.name / step_dir.name / "algo"
    return (step_dir / "algo").resolve()


def _prune_storage(cfg: TrainConfig, run_dir: Path) -> None:
    """Drop storage checkpoints whose run-directory entry was pruned."""
    if not cfg.run.storage:
        return
    root = Path(cfg.run.storage).expanduser().resolve() / run_dir.name
    kept = {p.name for p in rd.list_checkpoints(run_dir)}
    for path in root.glob("step_*") if root.is_dir() else []:
        if path.name not in kept:
            shutil.rmtree(path, ignore_errors=True)


def _fetch_policy(host: Any, directory: Path, obs_shape: tuple[int, ...]) -> HostPolicy:
    import ray

    rllib.unpack_policy(ray.get(host.policy_archive.remote(obs_shape)), directory)
    return HostPolicy("policy", rllib.load_actor(directory))


def run(cfg: TrainConfig, run_dir: Path, resume: bool = False, stop_after_chunks: int | None = None
        ) -> dict[str, Any] | None:
    """Train (or resume) RLlib PPO into ``run_dir``; returns the summary (None if stopped)."""
    import ray
    from ray.util.placement_group import remove_placement_group

    env, params = make(cfg.twin, **cfg.env_params)
    with ray_session(num_cpus=cfg.agent.num_cpus) as session:  # type: ignore[union-attr]
        hp = rllib.resolve_resources(cfg.agent, cluster_gpus())  # type: ignore[arg-type]
        host, pg = rllib.start_host(hp, cfg.twin, cfg.env_params, cfg.seed)
        try:
            return _train(cfg, run_dir, host, env, params, session.label, resume, stop_after_chunks)
        finally:
            with contextlib.suppress(Exception):
                ray.get(host.stop.remote(), timeout=60)
            ray.kill(host)
            remove_placement_group(pg)


def _train(cfg: TrainConfig, run_dir: Path, host: Any, env: Any, params: Any, ray_label: str, resume: bool,
           stop_after_chunks: int | None) -> dict[str, Any] | None:
    import ray

    checkpoints = rd.list_checkpoints(run_dir) if resume else []
    meta = rd.read_checkpoint_meta(checkpoints[-1]) if checkpoints else {}
    steps = int(meta.get("env_steps", 0))
    logger = rd.RunLogger(run_dir, resume_step=steps if resume else None)
    try:
        if checkpoints:
            ray.get(host.restore.remote(meta.get("algo_path") or str((checkpoints[-1] / "algo").resolve())))
        prior_wall = float(logger.last.get("perf/wall_time_s", 0.0))
        wall0 = time.time()
        last_ckpt = last_eval = steps
        ckpt_every = cfg.checkpoint.every_steps or 1
        iterations = 0
        obs_shape = tuple(env.observation_space(params).shape)
        with TrainProgress(cfg.total_steps, cfg.run.progress, start=steps) as bar:
            while steps < cfg.total_steps:
                t0 = time.time()
                result = ray.get(host.train.remote())
                new_steps = int(_get(result, "env_runners", "num_env_steps_sampled_lifetime") or 0)
                new_steps = max(new_steps, steps + 1)
                row = _row(result, (new_steps - steps) / max(time.time() - t0, 1e-9))
                steps = new_steps
                row["perf/wall_time_s"] = prior_wall + time.time() - wall0
                logger.log(steps, row)
                bar.update(steps, row.get("train/episode_return"), rate=row["perf/env_steps_per_s"])
                iterations += 1
                if steps - last_ckpt >= ckpt_every or steps >= cfg.total_steps:
                    algo_path = algo_checkpoint_path(cfg, run_dir, rd.checkpoint_dir(run_dir, steps))
                    rd.save_checkpoint(run_dir, steps, lambda _path, p=algo_path: ray.get(host.save.remote(str(p))),
                                       {"backend": "rllib_ppo", "env_steps": steps, "algo_path": str(algo_path)},
                                       cfg.checkpoint.keep)
                    _prune_storage(cfg, run_dir)
                    last_ckpt = steps
                if cfg.eval.every_steps and steps - last_eval >= cfg.eval.every_steps:
                    policy = _fetch_policy(host, run_dir / "checkpoints" / "_eval_policy", obs_shape)
                    results = evaluate_against_reference(env, params, policy, cfg.eval.during_episodes,
                                                         cfg.eval.seed)
                    logger.log(steps, eval_metrics(results))
                    last_eval = steps
                if stop_after_chunks is not None and iterations >= stop_after_chunks and steps < cfg.total_steps:
                    return None
        wall = prior_wall + time.time() - wall0
        policy = _fetch_policy(host, run_dir / rd.FINAL, obs_shape)
        return finish_run(run_dir, cfg, env, params, policy, steps, wall,
                          logger=logger,
                          extra={"final_train_return": logger.last.get("train/episode_return"),
                                 "ray_address": ray_label})
    finally:
        logger.close()
