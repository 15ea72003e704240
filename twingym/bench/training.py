"""Training throughput: pure-JAX PPO vs stable-baselines3 PPO vs RLlib PPO on the same twin.

All train PPO with the same number of parallel envs, rollout length, epochs, minibatches and
network ([64, 64] tanh MLPs); the figure is env steps per second of *training* (rollout + update),
measured after a warm-up that absorbs compilation. Peers:

- SB3 PPO the way SB3 users run it: ``make_vec_env`` over ``gymnasium.make`` of the twin (one
  single-copy env per slot) with ``DummyVecEnv`` (one process) and ``SubprocVecEnv`` (one process
  per env; each compiles its own step). Goal: JAX PPO >= 100x;
- SB3 PPO on twingym's batched SB3 VecEnv (one jitted step for all copies): SB3's learner
  overhead alone;
- RLlib PPO sampling in the driver process (``num_env_runners=0``, one batched vector env).

Training efficiency: JAX PPO's training steps/s over the env's own jitted-scan steps/s at the same
batch (goal >= 0.8): what the learner costs on top of stepping. The record also carries the
learner's flops per update (XLA's cost of the epochs), the flop/s it reaches in the time an update
takes beyond the env-only rollout, the matmul peak measured in the same run, and the efficiency
that would remain if the learner ran at that peak (``efficiency_limit``).

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
#: peer key -> record name (``sb3_<vec_env>`` keys select the SB3 vec env, see sb3_ppo_trainer).
PEER_NAMES = {
    "sb3_dummy": "SB3 PPO, make_vec_env + DummyVecEnv over gymnasium.make",
    "sb3_subproc": "SB3 PPO, make_vec_env + SubprocVecEnv over gymnasium.make",
    "sb3_batched": "SB3 PPO on twingym's batched SB3 VecEnv",
    "rllib": "RLlib PPO (new API stack)",
}
PEERS = tuple(PEER_NAMES)


def _rate(run: Callable[[], int]) -> tuple[float, float]:
    """Steps per wall second and per CPU second of this process (threads included) of one ``run()``."""
    t0, c0 = time.perf_counter(), time.process_time()
    steps = run()
    return steps / (time.perf_counter() - t0), steps / max(time.process_time() - c0, 1e-9)


def env_scan_runner(twin_id: str, num_envs: int, rollout: int, rollouts: int = 1) -> Callable[[], int]:
    """A compiled env-only rollout (random actions, ``num_envs x rollout`` steps in one jitted
    scan, as :func:`twingym.bench.common.env_scan_throughput`); each call runs ``rollouts`` of
    them and returns the steps."""
    from twingym.bench.common import _scan_steps
    from twingym.envs import make

    env, params = make(twin_id)
    key = jax.random.key(0)

    def run() -> int:
        for _ in range(rollouts):
            jax.block_until_ready(_scan_steps(env, params, num_envs, rollout, key))
        return num_envs * rollout * rollouts

    run()
    return run


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
    run.learner_flops = tr.learner_flops()  # type: ignore[attr-defined]
    return run


def sb3_ppo_trainer(twin_id: str, num_envs: int, rollout: int, updates: int, epochs: int = 4,
                    minibatches: int = 4, vec_env: str = "batched"
                    ) -> tuple[Callable[[], int], Callable[[], None]]:
    """A warmed-up SB3 PPO; each call trains ``updates`` updates.

    ``vec_env``: ``"batched"`` (twingym's SB3 VecEnv, one jitted step for the batch), or
    ``"dummy"`` / ``"subproc"``: SB3's ``make_vec_env`` over ``gymnasium.make`` of the twin with
    ``DummyVecEnv`` / ``SubprocVecEnv``, as an SB3 user would write it.
    """
    from twingym.agents.sb3 import SB3PPOParams, build_model, make_vec_env

    hp = SB3PPOParams(num_envs=num_envs, n_steps=rollout, batch_size=num_envs * rollout // minibatches,
                      n_epochs=epochs)
    if vec_env == "batched":
        venv = make_vec_env(twin_id, {}, hp, seed=0)
    else:
        from stable_baselines3.common import env_util
        from stable_baselines3.common import vec_env as sb3_vec

        cls = {"dummy": sb3_vec.DummyVecEnv, "subproc": sb3_vec.SubprocVecEnv}[vec_env]
        # the module:id form imports twingym.envs (and so registers the twins) in every worker
        venv = env_util.make_vec_env(f"twingym.envs:twingym/{twin_id}", n_envs=num_envs, seed=0,
                                     vec_env_cls=cls)
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
                                quick: bool = False, peers: tuple[str, ...] = PEERS) -> list[Record]:
    """JAX PPO env steps/s against each peer in ``peers`` (keys of :data:`PEER_NAMES`), same envs
    and rollout length, one run; plus JAX PPO's training efficiency (its rate over the env-only
    jitted-scan rate at ``num_envs``).

    The trainers are built and warmed up first, then measured in alternating rounds (JAX, then
    each peer, JAX, ...) and each keeps its best round: on a shared machine the load changes
    within a run, and alternating rounds expose all of them to the same changes.
    """
    from twingym.bench.roofline import matmul_peak_flops

    rounds = 1 if quick else 3
    updates = 4 if quick else 10
    runs: dict[str, Callable[[], int]] = {"jax": jax_ppo_trainer(twin_id, num_envs, rollout, updates)}
    closers: list[Callable[[], None]] = []
    try:
        for peer in peers:
            if peer == "rllib":
                run, close = rllib_ppo_trainer(twin_id, num_envs, rollout, 1)
            else:
                run, close = sb3_ppo_trainer(twin_id, num_envs, rollout, 1, vec_env=peer.removeprefix("sb3_"))
            runs[peer] = run
            closers.append(close)
        runs["env"] = env_scan_runner(twin_id, num_envs, rollout, updates)
        best = dict.fromkeys(runs, 0.0)
        best_cpu = dict.fromkeys(runs, 0.0)
        peak = 0.0
        for _ in range(rounds):
            for name, run in runs.items():
                wall, cpu = _rate(run)
                best[name], best_cpu[name] = max(best[name], wall), max(best_cpu[name], cpu)
            peak = max(peak, matmul_peak_flops(repeats=1))
        env_rate = best.pop("env")
    finally:
        for close in closers:
            close()
    metric = f"{twin_id} PPO training env steps/s ({num_envs} envs x {rollout} steps)"
    note = f"best of {rounds} alternating round(s)"
    records = [record(metric, "steps/s", best["jax"], PEER_NAMES[p], best[p], batch=num_envs, notes=note)
               for p in peers]
    records.append(record(f"{twin_id} JAX PPO training efficiency ({num_envs} envs x {rollout} steps)",
                          "steps/s", best["jax"], "env-only jitted scan, same batch", env_rate,
                          batch=num_envs, notes=f"{note}; goal ratio >= 0.8",
                          ratio_per_cpu_second=best_cpu["jax"] / best_cpu["env"],
                          **learner_limit_fields(num_envs * rollout, best["jax"], env_rate,
                                                 runs["jax"].learner_flops, peak)))  # type: ignore[attr-defined]
    return records


def learner_limit_fields(steps_per_update: int, train_rate: float, env_rate: float, learner_flops: float,
                         peak_flops: float) -> dict[str, float]:
    """Where an update's time goes beyond stepping the env, against the matmul peak.

    ``learner_gflops``: the update's epochs (``learner_flops`` per update) over the time an update
    takes beyond the env-only rollout (policy forward passes, GAE and the shuffle included);
    ``efficiency_limit``: the training efficiency if that part ran at ``peak_flops`` and cost
    nothing else (env time / (env time + learner flops / peak)).
    """
    update_s, env_s = steps_per_update / train_rate, steps_per_update / env_rate
    extra_s = update_s - env_s
    return {"learner_gflop_per_update": learner_flops / 1e9, "learner_seconds_per_update": extra_s,
            "env_seconds_per_update": env_s,
            "learner_gflops": learner_flops / extra_s / 1e9 if extra_s > 0 else float("nan"),
            "matmul_peak_gflops": peak_flops / 1e9,
            "efficiency_limit": env_s / (env_s + learner_flops / peak_flops)}


def main(argv: list[str] | None = None) -> list[Record]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates")
    parser.add_argument("--twin", default=TWIN_ID)
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--rollout", type=int, default=128)
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {PEERS}")
    args = parser.parse_args(argv)
    peers = tuple(p for p in args.peers.split(",") if p)
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; valid: {', '.join(PEERS)}")
    records = training_throughput_records(args.twin, args.num_envs, args.rollout, args.quick, peers)
    print_records(records, f"training throughput on {args.twin} ({machine_info()['jax_backend']})")
    for r in records:
        if r["ratio"] is not None and math.isfinite(r["ratio"]):
            print(f"JAX PPO / {r['peer_name']}: {r['ratio']:.2f}x")
    return records


if __name__ == "__main__":
    main()
