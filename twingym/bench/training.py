"""Training throughput: pure-JAX PPO vs stable-baselines3 PPO vs RLlib PPO on the same twin.

All three train PPO with the same number of parallel envs, rollout length, epochs, minibatches and
network ([64, 64] tanh MLPs); the figure is env steps per second of *training* (rollout + update),
measured after a warm-up that absorbs compilation. SB3 steps its batch through the jitted SB3
VecEnv adapter; RLlib samples in the driver process (``num_env_runners=0``, one batched vector env)
so that no backend gets extra processes. Goal: JAX PPO >= 50x SB3 PPO.

Run ``python -m twingym.bench.training [--quick] [--twin WindFarm-v0] [--num-envs 64]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import jax

from twingym.bench.common import Record, machine_info, print_records, record

TWIN_ID = "WindFarm-v0"


def _rate(run: Callable[[], int]) -> float:
    t0 = time.perf_counter()
    steps = run()
    return steps / (time.perf_counter() - t0)


def jax_ppo_trainer(twin_id: str, num_envs: int, rollout: int, updates: int, epochs: int = 4,
                    minibatches: int = 4) -> Callable[[], int]:
    """A warmed-up JAX PPO (compiled): each call trains one chunk of ``updates`` updates, returns env steps."""
    from twingym.agents.jax_ppo import JaxPPOParams, make_train
    from twingym.envs import make

    env, params = make(twin_id)
    hp = JaxPPOParams(num_envs=num_envs, rollout_steps=rollout, num_epochs=epochs, num_minibatches=minibatches,
                      updates_per_chunk=updates)
    tr = make_train(hp, env, params, total_steps=num_envs * rollout * updates * 1000)
    box = {"state": tr.init(jax.random.PRNGKey(0))}

    def run() -> int:
        box["state"], m = tr.chunk(box["state"])
        jax.block_until_ready(m)
        return num_envs * rollout * updates

    run()  # compile + warm up
    return run


def sb3_ppo_trainer(twin_id: str, num_envs: int, rollout: int, updates: int, epochs: int = 4,
                    minibatches: int = 4) -> tuple[Callable[[], int], Callable[[], None]]:
    """A warmed-up SB3 PPO on the batched SB3 VecEnv; each call trains ``updates`` updates."""
    from twingym.agents.sb3 import SB3PPOParams, build_model, make_vec_env

    hp = SB3PPOParams(num_envs=num_envs, n_steps=rollout, batch_size=num_envs * rollout // minibatches,
                      n_epochs=epochs)
    venv = make_vec_env(twin_id, {}, hp, seed=0)
    model = build_model(hp, venv, seed=0)
    per_update = num_envs * rollout

    def run() -> int:
        model.learn(per_update * updates, reset_num_timesteps=False)
        return per_update * updates

    model.learn(per_update)  # warm-up: jit of the adapter, torch init
    return run, venv.close


def rllib_ppo_trainer(twin_id: str, num_envs: int, rollout: int, updates: int, epochs: int = 4,
                      minibatches: int = 4) -> tuple[Callable[[], int], Callable[[], None]]:
    """A warmed-up RLlib PPO (local sampling, one batched vector env); each call runs ``updates`` iterations."""
    import ray

    from twingym.agents import rllib

    hp = rllib.RLlibPPOParams(num_env_runners=0, num_envs_per_env_runner=num_envs,
                              rollout_fragment_length=rollout, num_epochs=epochs,
                              minibatch_size=num_envs * rollout // minibatches)
    started = not ray.is_initialized()
    if started:  # a private local Ray, never a cluster running on the machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    rllib.register_env()
    algo = rllib.build_config(hp, twin_id, {}, seed=0).build_algo()
    box = {"steps": 0}

    def lifetime() -> int:
        return int(algo.train()["env_runners"]["num_env_steps_sampled_lifetime"])

    def run() -> int:
        first = box["steps"]
        for _ in range(updates):
            box["steps"] = lifetime()
        return box["steps"] - first

    def close() -> None:
        algo.stop()
        if started:
            ray.shutdown()

    box["steps"] = lifetime()  # warm-up
    return run, close


def training_throughput_records(twin_id: str = TWIN_ID, num_envs: int = 64, rollout: int = 128,
                                quick: bool = False) -> list[Record]:
    """JAX PPO env steps/s against SB3 PPO and RLlib PPO, same envs and rollout length, one run.

    The three trainers are built and warmed up first, then measured in alternating rounds (JAX, SB3,
    RLlib, JAX, ...) and each keeps its best round: on a shared machine the load changes within a
    run, and alternating rounds expose all three to the same changes.
    """
    rounds = 1 if quick else 3
    jax_run = jax_ppo_trainer(twin_id, num_envs, rollout, 4 if quick else 10)
    sb3_run, sb3_close = sb3_ppo_trainer(twin_id, num_envs, rollout, 1)
    rl_run, rl_close = rllib_ppo_trainer(twin_id, num_envs, rollout, 1)
    best = {"jax": 0.0, "sb3": 0.0, "rllib": 0.0}
    try:
        for _ in range(rounds):
            for name, run in (("jax", jax_run), ("sb3", sb3_run), ("rllib", rl_run)):
                best[name] = max(best[name], _rate(run))
    finally:
        sb3_close()
        rl_close()
    metric = f"{twin_id} PPO training env steps/s ({num_envs} envs x {rollout} steps)"
    note = f"best of {rounds} alternating round(s)"
    return [record(metric, "steps/s", best["jax"], "stable-baselines3 PPO", best["sb3"], batch=num_envs,
                   notes=note),
            record(metric, "steps/s", best["jax"], "RLlib PPO (new API stack)", best["rllib"], batch=num_envs,
                   notes=note)]


def main(argv: list[str] | None = None) -> list[Record]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates")
    parser.add_argument("--twin", default=TWIN_ID)
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--rollout", type=int, default=128)
    args = parser.parse_args(argv)
    records = training_throughput_records(args.twin, args.num_envs, args.rollout, args.quick)
    print_records(records, f"training throughput on {args.twin} ({machine_info()['jax_backend']})")
    for r in records:
        if r["ratio"] is not None and math.isfinite(r["ratio"]):
            print(f"JAX PPO / {r['peer_name']}: {r['ratio']:.1f}x")
    return records


if __name__ == "__main__":
    main()
