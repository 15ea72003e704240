"""stable-baselines3 PPO/SAC training into a run directory (logging, progress, checkpoints, resume).

A callback logs every ``num_envs * n_steps`` env steps (PPO) or ``num_envs * 256`` (SAC): episode
return/length (``VecMonitor``), episode cost (summed ``info["cost"]``), SB3's own loss values, env
steps/s. Checkpoints hold ``model.zip`` + ``vecnormalize.pkl``; resuming reloads both and continues
the step count (SB3 resumes are not bit-exact; SAC's replay buffer is not checkpointed).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from twingym.agents import sb3
from twingym.envs import make
from twingym.training import run_dir as rd
from twingym.training.config import TrainConfig
from twingym.training.evaluate import HostPolicy
from twingym.training.progress import TrainProgress
from twingym.training.summary import eval_metrics, evaluate_against_reference, finish_run

_LOSS_NAMES = {"train/policy_gradient_loss": "loss/policy", "train/value_loss": "loss/value",
               "train/entropy_loss": "loss/entropy", "train/approx_kl": "loss/approx_kl",
               "train/clip_fraction": "loss/clip_fraction", "train/explained_variance": "loss/explained_variance",
               "train/learning_rate": "train/learning_rate", "train/actor_loss": "loss/actor",
               "train/critic_loss": "loss/critic", "train/ent_coef": "train/ent_coef", "train/std": "train/action_std"}


def _make_callback(cfg: TrainConfig, run_dir: Path, logger: rd.RunLogger, bar: TrainProgress, env: Any,
                   params: Any, venv: Any, start_steps: int, stop_after_chunks: int | None):
    from stable_baselines3.common.callbacks import BaseCallback

    hp = cfg.agent
    log_every = hp.num_envs * (hp.n_steps if isinstance(hp, sb3.SB3PPOParams) else 256)
    ckpt_every = cfg.checkpoint.every_steps or log_every

    class RunCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.ep_cost = np.zeros(hp.num_envs)
            self.returns: list[float] = []
            self.costs: list[float] = []
            self.lengths: list[float] = []
            self.last_log = self.last_ckpt = self.last_eval = start_steps
            self.t_log = time.time()
            self.chunks = 0
            self.stopped = False

        def _on_step(self) -> bool:
            for i, info in enumerate(self.locals["infos"]):
                self.ep_cost[i] += float(info.get("cost", 0.0))
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
                    self.lengths.append(float(info["episode"]["l"]))
                    self.costs.append(self.ep_cost[i])
                    self.ep_cost[i] = 0.0
            steps = self.model.num_timesteps
            if steps - self.last_log >= log_every:
                self._log(steps)
                self.chunks += 1
                if stop_after_chunks is not None and self.chunks >= stop_after_chunks:
                    self._checkpoint(steps)
                    self.stopped = True
                    return False
            if steps - self.last_ckpt >= ckpt_every:
                self._checkpoint(steps)
            if cfg.eval.every_steps and steps - self.last_eval >= cfg.eval.every_steps:
                results = evaluate_against_reference(env, params, current_policy(self.model, venv),
                                                     cfg.eval.during_episodes, cfg.eval.seed)
                logger.log(steps, eval_metrics(results))
                self.last_eval = steps
            return True

        def _log(self, steps: int) -> None:
            now = time.time()
            rate = (steps - self.last_log) / max(now - self.t_log, 1e-9)
            row: dict[str, float] = {"perf/env_steps_per_s": rate, "train/episodes": float(len(self.returns))}
            if self.returns:
                row.update({"train/episode_return": float(np.mean(self.returns)),
                            "train/episode_cost": float(np.mean(self.costs)),
                            "train/episode_length": float(np.mean(self.lengths))})
            for k, v in self.model.logger.name_to_value.items():
                if k in _LOSS_NAMES:
                    row[_LOSS_NAMES[k]] = float(v)
            logger.log(steps, row)
            bar.update(steps, row.get("train/episode_return", logger.last.get("train/episode_return")), rate=rate)
            self.returns, self.costs, self.lengths = [], [], []
            self.last_log, self.t_log = steps, now

        def _checkpoint(self, steps: int) -> None:
            rd.save_checkpoint(run_dir, steps, lambda path: sb3.save_policy(self.model, venv, path),
                               {"backend": cfg.backend, "env_steps": int(steps)}, cfg.checkpoint.keep)
            self.last_ckpt = steps

    return RunCallback()


def current_policy(model: Any, venv: Any) -> HostPolicy:
    """The model being trained as a host controller (normalising with the current statistics)."""
    def act(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        return np.asarray(model.predict(venv.normalize_obs(obs), deterministic=True)[0])
    return HostPolicy("policy", act)


def run(cfg: TrainConfig, run_dir: Path, resume: bool = False, stop_after_chunks: int | None = None
        ) -> dict[str, Any] | None:
    """Train (or resume) SB3 PPO/SAC into ``run_dir``; returns the summary (None if stopped)."""
    hp = cfg.agent
    env, params = make(cfg.twin, **cfg.env_params)
    checkpoints = rd.list_checkpoints(run_dir) if resume else []
    if checkpoints:
        last = checkpoints[-1]
        venv = sb3.load_vecnormalize(last, sb3.make_inner_vec_env(cfg.twin, cfg.env_params, hp, cfg.seed))
        venv.training = True
        model = sb3.load_model(last, venv)
        start = int(model.num_timesteps)
    else:
        venv = sb3.make_vec_env(cfg.twin, cfg.env_params, hp, cfg.seed)  # type: ignore[arg-type]
        model = sb3.build_model(hp, venv, cfg.seed)  # type: ignore[arg-type]
        start = 0
    logger = rd.RunLogger(run_dir, resume_step=start if resume else None)
    prior_wall = float(logger.last.get("perf/wall_time_s", 0.0))
    wall0 = time.time()
    try:
        with TrainProgress(cfg.total_steps, cfg.run.progress, start=start) as bar:
            cb = _make_callback(cfg, run_dir, logger, bar, env, params, venv, start, stop_after_chunks)
            remaining = max(cfg.total_steps - start, 0)
            if remaining:
                model.learn(total_timesteps=remaining, callback=cb, reset_num_timesteps=not checkpoints,
                            progress_bar=False)
            if cb.stopped:
                return None
            wall = prior_wall + time.time() - wall0
            logger.log(model.num_timesteps, {"perf/wall_time_s": wall})
        sb3.save_policy(model, venv, run_dir / rd.FINAL)
        policy = HostPolicy("policy", sb3.load_actor(run_dir / rd.FINAL))
        return finish_run(run_dir, cfg, env, params, policy, int(model.num_timesteps), wall,
                          logger=logger,
                          extra={"final_train_return": logger.last.get("train/episode_return")})
    finally:
        logger.close()
        venv.close()
