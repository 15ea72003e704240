"""The Python loop around compiled JAX PPO chunks: log, show progress, evaluate, checkpoint.

Between chunks only: metrics come to the host, TensorBoard/``metrics.jsonl`` get one line per PPO
update (means over seeds), and a checkpoint (``state.npz``: the whole train-state pytree including
the RNG key, ``meta.json``: chunks done) is written. Resuming loads the last checkpoint and runs the
remaining chunks of the same compiled function, so the result equals an uninterrupted run bit for bit.

Across processes (:mod:`twingym.training.distributed`) every process runs this loop in step; the
state is gathered to the host where a checkpoint, an evaluation or the final policy needs it (all
processes take part), and process 0 alone writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from twingym.agents.jax_ppo import (
    ActionHead,
    JaxPolicy,
    PPOTrain,
    RunnerState,
    load_state,
    make_train,
    save_state,
)
from twingym.envs import make
from twingym.envs.param_mixture import ParamMixture, mix_params
from twingym.training import run_dir as rd
from twingym.training.config import ConfigError, TrainConfig
from twingym.training.distributed import is_main, to_host
from twingym.training.evaluate import ParamPolicy
from twingym.training.progress import TrainProgress
from twingym.training.summary import eval_metrics, evaluate_against_reference, finish_run

_NAMES = {"episode_return": "train/episode_return", "episode_cost": "train/episode_cost",
          "episode_length": "train/episode_length", "episodes": "train/episodes",
          "policy_loss": "loss/policy", "value_loss": "loss/value", "entropy": "loss/entropy",
          "approx_kl": "loss/approx_kl", "clip_fraction": "loss/clip_fraction",
          "explained_variance": "loss/explained_variance", "learning_rate": "train/learning_rate",
          "action_std": "train/action_std", "episode_return_over_baseline": "train/episode_return_over_baseline"}


def make_param_policy(head: ActionHead, hp: Any):
    """``policy(state) -> ParamPolicy``: one ``apply`` per run, the weights of seed 0 as traced input."""
    def apply(weights, obs):
        pol = JaxPolicy(weights["actor"], head, weights.get("mean"), weights.get("var"), hp.activation)
        return pol.act(obs[None])[0]

    def policy(state: RunnerState) -> ParamPolicy:
        weights = {"actor": jax.tree.map(lambda x: x[0], state.params["actor"])}
        if hp.normalize_obs:
            weights["mean"], weights["var"] = state.obs_stats.mean[0], state.obs_stats.var[0]
        return ParamPolicy("policy", apply, weights)

    return policy


class _SilentLogger:
    """The logger of processes other than 0: they write nothing."""

    last: dict[str, float] = {}

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def _save_checkpoint(run_dir: Path, state: RunnerState, chunk: int, steps: int, keep: int) -> Path | None:
    state = to_host(state)  # every process takes part; process 0 writes
    if not is_main():
        return None
    return rd.save_checkpoint(run_dir, steps, lambda path: save_state(path / "state.npz", state),
                              {"backend": "jax_ppo", "chunk": chunk, "env_steps": steps}, keep)


def scenario_mixture(cfg: TrainConfig, env: Any) -> ParamMixture | None:
    """Per-copy params for ``cfg.train_scenarios`` (each on top of ``cfg.env_params``), or None."""
    if not cfg.train_scenarios:
        return None
    scenarios = env.scenarios()
    sets = [make(cfg.twin, **{**cfg.env_params, **scenarios[name]})[1] for name in cfg.train_scenarios]
    try:
        return mix_params(sets, cfg.agent.num_envs, names=[f"scenario {n!r}" for n in cfg.train_scenarios])
    except ValueError as err:
        raise ConfigError(f"train_scenarios: {err}") from None


def build(cfg: TrainConfig) -> tuple[Any, Any, PPOTrain]:
    env, params = make(cfg.twin, **cfg.env_params)
    return env, params, make_train(cfg.agent, env, params, cfg.total_steps,  # type: ignore[arg-type]
                                   mixture=scenario_mixture(cfg, env))


#: ``on_checkpoint(env_steps, latest logged metrics, checkpoint folder)``, called in process 0.
CheckpointHook = Callable[[int, dict[str, float], Path], None]


def run(cfg: TrainConfig, run_dir: Path, resume: bool = False, stop_after_chunks: int | None = None,
        on_checkpoint: CheckpointHook | None = None) -> dict[str, Any] | None:
    """Train (or resume) into ``run_dir``; returns the summary (None when stopped early on purpose).

    ``stop_after_chunks`` ends the loop after that many chunks of this call, as an interruption
    would (used by the resume test). ``on_checkpoint`` sees every checkpoint once it is written
    (``twingym sweep`` reports it to Ray Tune's schedulers).
    """
    hp = cfg.agent
    env, params, tr = build(cfg)
    key = jax.random.PRNGKey(cfg.seed)
    start_chunk, steps_per_chunk = 0, tr.updates_per_chunk * tr.steps_per_update
    if resume and rd.list_checkpoints(run_dir):
        last = rd.list_checkpoints(run_dir)[-1]
        start_chunk = int(rd.read_checkpoint_meta(last)["chunk"])
        state = load_state(last / "state.npz", jax.eval_shape(tr.init, key), tr.sharding)
    else:
        state = tr.init(key)
    main = is_main()
    logger: Any = (rd.RunLogger(run_dir, resume_step=start_chunk * steps_per_chunk if resume else None)
                   if main else _SilentLogger())
    ckpt_every = cfg.checkpoint.every_steps or steps_per_chunk
    eval_every = cfg.eval.every_steps
    last_ckpt = last_eval = start_chunk * steps_per_chunk
    wall0 = time.time()
    prior_wall = float(logger.last.get("perf/wall_time_s", 0.0))
    done_chunks = 0
    param_policy, ref_cache = make_param_policy(tr.head, hp), {}
    try:
        with TrainProgress(tr.total_steps, cfg.run.progress and main, start=last_ckpt) as bar:
            for c in range(start_chunk, tr.num_chunks):
                t_chunk = time.time()
                state, metrics = tr.chunk(state)
                metrics = jax.device_get(metrics)
                elapsed = time.time() - t_chunk
                rate = steps_per_chunk * hp.num_seeds / max(elapsed, 1e-9)
                for u in range(tr.updates_per_chunk):
                    step = (c * tr.updates_per_chunk + u + 1) * tr.steps_per_update
                    row = {_NAMES.get(k, k): _seed_mean(v[:, u]) for k, v in metrics.items()}
                    if u == tr.updates_per_chunk - 1:
                        row["perf/env_steps_per_s"] = rate
                        row["perf/wall_time_s"] = prior_wall + time.time() - wall0
                    logger.log(step, row)
                steps = (c + 1) * steps_per_chunk
                bar.update(steps, _seed_mean(metrics["episode_return"][:, -1]) if metrics["episodes"].any()
                           else logger.last.get("train/episode_return"), rate=rate)
                if eval_every and steps - last_eval >= eval_every:
                    host = to_host(state)
                    if main:
                        results = evaluate_against_reference(env, params, param_policy(host),
                                                             cfg.eval.during_episodes, cfg.eval.seed, ref_cache)
                        logger.log(steps, eval_metrics(results))
                    last_eval = steps
                done_chunks += 1
                stopping = stop_after_chunks is not None and done_chunks >= stop_after_chunks
                if steps - last_ckpt >= ckpt_every or c == tr.num_chunks - 1 or stopping:
                    saved = _save_checkpoint(run_dir, state, c + 1, steps, cfg.checkpoint.keep)
                    if saved is not None and on_checkpoint is not None:
                        on_checkpoint(steps, dict(logger.last), saved)
                    last_ckpt = steps
                if stopping and c < tr.num_chunks - 1:
                    return None
        wall = prior_wall + time.time() - wall0
        host = to_host(state)
        if not main:
            return {"env_steps": tr.total_steps, "wall_time_s": wall, "steps_per_s": tr.total_steps / max(wall, 1e-9),
                    "final_eval": {}}
        policy = JaxPolicy.from_state(host, tr.head, hp)
        policy.save(run_dir / rd.FINAL)
        return finish_run(run_dir, cfg, env, params, param_policy(host), tr.total_steps, wall,
                          cache=ref_cache, logger=logger,
                          extra={"num_seeds": hp.num_seeds,
                                 "total_env_steps_all_seeds": tr.total_steps * hp.num_seeds,
                                 "final_train_return": logger.last.get("train/episode_return")})
    finally:
        logger.close()


def _seed_mean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    finite = x[np.isfinite(x)]
    return float(finite.mean()) if finite.size else float("nan")
