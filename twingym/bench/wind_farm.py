"""WindFarm-v0 benchmark, measured on this machine in one run:

- ``farm_power``: inflow conditions evaluated per second for 4,096 conditions (random directions,
  speeds 4-20 m/s, TI 0.04-0.12) on the 9-turbine default farm, next to FLORIS 4's own
  ``FlorisModel.run()`` on the same work with the same models (goal: at least 20x FLORIS);
- env steps per second at batch sizes 1, 64, 1,024 and 16,384 through a jitted ``lax.scan``, next
  to the gymnasium single-env adapter in a Python loop (goal: at least 500x at the largest batch).

Run ``python -m twingym.bench.wind_farm [--quick]``.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from twingym.bench.common import (
    Record,
    best_time,
    env_throughput_records,
    machine_info,
    print_records,
    record,
)

TWIN_ID = "WindFarm-v0"
BATCHES = (1, 64, 1024, 16384)
QUICK_BATCHES = (1, 1024)
N_CONDITIONS = 4096


def _conditions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.0, 360.0, n), rng.uniform(4.0, 20.0, n), rng.uniform(0.04, 0.12, n))


def floris_run_seconds(x, y, wd, ws, ti, repeats: int = 2) -> float | None:
    """Best wall time of FLORIS's ``run()`` on the conditions (None when FLORIS is missing)."""
    try:
        import floris  # noqa: F401
    except ImportError:
        return None
    from twingym.envs.wind_farm.floris_reference import floris_model

    fm = floris_model(x, y)
    fm.set(wind_directions=wd, wind_speeds=ws, turbulence_intensities=ti)
    return best_time(fm.run, repeats=repeats, min_seconds=0.0)


def farm_power_records(n_conditions: int = N_CONDITIONS, repeats: int = 3) -> list[Record]:
    """``farm_power`` conditions/s on the default farm against FLORIS ``run()`` (same work)."""
    from twingym.envs import make
    from twingym.envs.wind_farm import farm_power

    _, params = make(TWIN_ID)
    x, y = np.asarray(params.layout_x, np.float64), np.asarray(params.layout_y, np.float64)
    wd, ws, ti = _conditions(n_conditions)
    jax.block_until_ready(farm_power(x, y, wd, ws, ti))  # compile
    ours = best_time(lambda: jax.block_until_ready(farm_power(x, y, wd, ws, ti)), repeats=repeats)
    peer = floris_run_seconds(x, y, wd, ws, ti)
    return [record(f"farm_power, {len(x)} turbines, {n_conditions} conditions", "conditions/s",
                   n_conditions / ours, "FLORIS 4 FlorisModel.run()",
                   None if peer is None else n_conditions / peer, batch=n_conditions,
                   ours_seconds=ours, peer_seconds=peer)]


def throughput_records(batches=BATCHES, steps: int = 100, gym_steps: int = 300,
                       repeats: int = 3) -> list[Record]:
    """Jitted-scan env steps/s per batch size against the gymnasium adapter loop (same run)."""
    from twingym.envs import make

    return env_throughput_records(TWIN_ID, *make(TWIN_ID), batches=batches, steps=steps,
                                  gym_steps=gym_steps, repeats=repeats)


def records(quick: bool = False) -> list[Record]:
    """All WindFarm figures (``quick``: 1,024 conditions, two batch sizes, shorter loops)."""
    if quick:
        return (farm_power_records(1024, repeats=1)
                + throughput_records(QUICK_BATCHES, steps=20, gym_steps=50, repeats=1))
    return farm_power_records() + throughput_records()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    recs = records(quick="--quick" in argv)
    info = machine_info()
    print_records(recs, f"{TWIN_ID} on {info['machine']} ({info['jax_backend']}, "
                        f"{info['cpu_count']} CPUs)")
    fp = recs[0]
    if fp["ratio"] is not None:
        print(f"farm_power vs FLORIS: {fp['ratio']:.0f}x (goal >= 20x)")
    env_recs = [r for r in recs[1:] if r["batch"] is not None]
    if env_recs:
        top = max(env_recs, key=lambda r: r["batch"])
        print(f"env steps/s at batch {top['batch']}: {top['ratio']:.0f}x the gymnasium loop "
              "(goal >= 500x)")


if __name__ == "__main__":
    main()
