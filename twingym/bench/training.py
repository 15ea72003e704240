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

import jax

from twingym.bench.common import Record, machine_info, print_records, record

TWIN_ID = "WindFarm-v0"


def jax_ppo_steps_per_s(twin_id: str, num_envs: int, rollout: int, updates: int, epochs: int = 4,
                        minibatches: int = 4) -> float:
    """Env steps/s of JAX PPO over ``updates`` updates after one warm-up chunk (compilation)."""
    from twingym.agents.jax_ppo import JaxPPOParams, make_train
    from twingym.envs import make

    env, params = make(twin_id)
    hp = JaxPPOParams(num_envs=num_envs, rollout_steps=rollout, num_epochs=epochs, num_minibatches=minibatches,
                      updates_per_chunk=updates)
    tr = make_train(hp, env, params, total_steps=num_envs * rollout * updates * 2)
    state = tr.init(jax.random.PRNGKey(0))
    state, m = tr.chunk(state)  # compile + warm up
    jax.block_until_ready(m)
    t0 = time.perf_counter()
    state, m = tr.chunk(state)
    jax.block_until_ready(m)
    return num_envs * rollout * updates / (time.perf_counter() - t0)


def sb3_ppo_steps_per_s(twin_id: str, num_envs: int, rollout: int, updates: int, epochs: int = 4,
                        minibatches: int = 4) -> float:
    """Env steps/s of SB3 PPO (batched SB3 VecEnv) over ``updates`` updates after one warm-up update."""
    from twingym.agents.sb3 import SB3PPOParams, build_model, make_vec_env

    hp = SB3PPOParams(num_envs=num_envs, n_steps=rollout, batch_size=num_envs * rollout // minibatches,
                      n_epochs=epochs)
    venv = make_vec_env(twin_id, {}, hp, seed=0)
    model = build_model(hp, venv, seed=0)
    per_update = num_envs * rollout
    model.learn(per_update)  # warm-up: jit of the adapter, torch init
    t0 = time.perf_counter()
    model.learn(per_update * updates, reset_num_timesteps=False)
    rate = per_update * updates / (time.perf_counter() - t0)
    venv.close()
    return rate


def rllib_ppo_steps_per_s(twin_id: str, num_envs: int, rollout: int, updates: int, epochs: int = 4,
                          minibatches: int = 4) -> float:
    """Env steps/s of RLlib PPO (local sampling, one batched vector env) over ``updates`` iterations."""
    import ray

    from twingym.agents import rllib

    hp = rllib.RLlibPPOParams(num_env_runners=0, num_envs_per_env_runner=num_envs,
                              rollout_fragment_length=rollout, num_epochs=epochs,
                              minibatch_size=num_envs * rollout // minibatches)
    started = not ray.is_initialized()
    rllib.init_ray(None, 2)
    rllib.register_env()
    algo = rllib.build_config(hp, twin_id, {}, seed=0).build_algo()
    try:
        def steps() -> int:
            return int(algo.train()["env_runners"]["num_env_steps_sampled_lifetime"])
        first = steps()  # warm-up
        t0 = time.perf_counter()
        last = first
        for _ in range(updates):
            last = steps()
        return (last - first) / (time.perf_counter() - t0)
    finally:
        algo.stop()
        if started:
            ray.shutdown()


def training_throughput_records(twin_id: str = TWIN_ID, num_envs: int = 64, rollout: int = 128,
                                quick: bool = False) -> list[Record]:
    """JAX PPO env steps/s against SB3 PPO and RLlib PPO, same envs and rollout length, one run."""
    jax_updates = 4 if quick else 10
    peer_updates = 1 if quick else 3
    ours = jax_ppo_steps_per_s(twin_id, num_envs, rollout, jax_updates)
    sb3 = sb3_ppo_steps_per_s(twin_id, num_envs, rollout, peer_updates)
    rl = rllib_ppo_steps_per_s(twin_id, num_envs, rollout, peer_updates)
    metric = f"{twin_id} PPO training env steps/s ({num_envs} envs x {rollout} steps)"
    return [record(metric, "steps/s", ours, "stable-baselines3 PPO", sb3, batch=num_envs),
            record(metric, "steps/s", ours, "RLlib PPO (new API stack)", rl, batch=num_envs)]


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
