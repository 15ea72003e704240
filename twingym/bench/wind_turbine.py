"""WindTurbine-v0 benchmark: env steps/s through a jitted scan at batch sizes 1 to 16,384 next to the
gymnasium single-env adapter in a Python loop (goal: >= 500x at the largest batch); the steady-state
parity figures of the reference controller against the NREL 5-MW published values; and the
reference controller's return and cost per validation scenario.

Run ``python -m twingym.bench.wind_turbine [--quick]``.
"""

from __future__ import annotations

import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from twingym.bench.common import (
    Record,
    env_throughput_records,
    machine_info,
    print_records,
    record,
)

TWIN_ID = "WindTurbine-v0"
BATCHES = (1, 64, 1024, 16384)
QUICK_BATCHES = (1, 1024)
#: Jonkman et al. 2009 (NREL/TP-500-38060): Table 7-1 pitch (deg); Table 1-1 rated 12.1 rpm, 5 MW.
PITCH_TABLE_7_1 = {12: 3.83, 14: 8.70, 16: 12.06, 18: 14.92, 20: 17.47, 22: 19.94, 24: 22.35}
ROTOR_SPEED_FIG_9_1 = {6: 7.942, 8: 9.156, 10: 11.431}


def throughput_records(batches=BATCHES, steps: int = 100, gym_steps: int = 300,
                       repeats: int = 3) -> list[Record]:
    """Jitted-scan env steps/s per batch size against the gymnasium adapter loop (same run)."""
    from twingym.envs import make

    return env_throughput_records(TWIN_ID, *make(TWIN_ID), batches=batches, steps=steps,
                                  gym_steps=gym_steps, repeats=repeats)


@partial(jax.jit, static_argnums=(0, 2))
def _steady(env, params, steps: int, winds):
    controller = env.baselines()[env.reference_baseline]

    def run(u):
        p = params.replace(wind_mean_min=u, wind_mean_max=u)
        obs, state = env.reset(jax.random.key(0), p)

        def body(carry, k):
            state, obs, c = carry
            action, c = controller.act(c, obs, p)
            obs, state, _, _, _, info = env.step_env(k, state, action, p)
            return (state, obs, c), (info["power"], info["rotor_speed"], info["pitch"])

        _, (power, omega, pitch) = jax.lax.scan(body, (state, obs, controller.init(p)),
                                                jax.random.split(jax.random.key(1), steps))
        return power[-1] / 1e6, omega[-1] * 30 / jnp.pi, jnp.rad2deg(pitch[-1])

    return jax.vmap(run)(winds)


def parity_records() -> list[Record]:
    """Steady states of the reference controller in uniform wind vs the published NREL 5-MW values
    (``ratio`` = twin / reference; power below rated vs the wind farm twin's NREL 5-MW table)."""
    from twingym.envs import make
    from twingym.envs.turbines import load_floris_turbine

    env, params = make(TWIN_ID, turbulence_intensity=0.0, sensor_noise=0.0, max_steps=2000)
    winds = sorted(set(PITCH_TABLE_7_1) | set(ROTOR_SPEED_FIG_9_1))
    power, speed, pitch = (np.asarray(x) for x in _steady(env, params, 1500,
                                                          jnp.asarray(winds, jnp.float32)))
    table = load_floris_turbine("nrel_5MW_rosco")
    out = []
    for i, u in enumerate(winds):
        if u in PITCH_TABLE_7_1:
            out.append(record(f"steady pitch at {u} m/s", "deg", float(pitch[i]),
                              "Jonkman 2009 Table 7-1", PITCH_TABLE_7_1[u]))
        if u in ROTOR_SPEED_FIG_9_1:
            out.append(record(f"steady rotor speed at {u} m/s", "rpm", float(speed[i]),
                              "Jonkman 2009 Fig. 9-1", ROTOR_SPEED_FIG_9_1[u]))
            ref = float(np.interp(u, table.wind_speed, table.power)) / 1e6
            out.append(record(f"steady power at {u} m/s", "MW", float(power[i]),
                              "wind farm NREL 5-MW table", ref))
    return out


@partial(jax.jit, static_argnums=(0, 2, 3))
def _controller_return(env, params, batch: int, steps: int):
    controller = env.baselines()[env.reference_baseline]

    def one(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)

        def body(carry, k):
            state, obs, c = carry
            action, c = controller.act(c, obs, params)
            obs, state, reward, _, _, info = env.step(k, state, action, params)
            return (state, obs, c), (reward, info["cost"])

        _, (reward, cost) = jax.lax.scan(body, (state, obs, controller.init(params)),
                                         jax.random.split(k_run, steps))
        return reward.mean(), cost.mean()

    return jax.vmap(one)(jax.random.split(jax.random.key(0), batch))


def scenario_records(batch: int = 64) -> list[Record]:
    """Mean reward and cost per step of the reference controller in each validation scenario."""
    from twingym.envs import make

    env, _ = make(TWIN_ID)
    out = []
    for name, overrides in env.scenarios().items():
        params = env.make_params(**overrides)
        reward, cost = (np.asarray(x) for x in _controller_return(env, params, batch, params.max_steps))
        out.append(record(f"reference controller reward/step, {name}", "1", float(reward.mean()),
                          cost_per_step=float(cost.mean())))
    return out


def records(quick: bool = False) -> list[Record]:
    """All WindTurbine figures (``quick``: two batch sizes, shorter loops, fewer episodes)."""
    if quick:
        return (throughput_records(QUICK_BATCHES, steps=20, gym_steps=50, repeats=1)
                + parity_records() + scenario_records(batch=8))
    return throughput_records() + parity_records() + scenario_records()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    recs = records(quick="--quick" in argv)
    info = machine_info()
    print_records(recs, f"{TWIN_ID} on {info['machine']} ({info['jax_backend']}, {info['cpu_count']} CPUs)")
    scan = [r for r in recs if r["batch"] is not None]
    if scan:
        best = max(scan, key=lambda r: r["batch"])
        print(f"ratio at batch {best['batch']}: {best['ratio']:.0f}x (goal >= 500x)")


if __name__ == "__main__":
    main()
