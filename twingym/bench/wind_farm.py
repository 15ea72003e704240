"""WindFarm-v0 benchmark, measured on this machine in one run:

- ``farm_power``: inflow conditions evaluated per second for 4,096 conditions (random directions,
  speeds 4-20 m/s, TI 0.04-0.12) on the 9-turbine default farm, next to FLORIS 4's own
  ``FlorisModel.run()`` on the same work with the same models (goal: at least 20x FLORIS);
- the same in float64 (FLORIS computes in float64);
- env steps per second at batch sizes 1, 64, 1,024 and 16,384 through a jitted ``lax.scan``, next
  to the gymnasium single-env adapter in a Python loop (goal: at least 500x at the largest batch);
- the wake roofline: :func:`wake_roofline_rate`, the wake maths of one step (the same rotor points,
  the same deficit, deflection and added-turbulence formulas) evaluated for every
  (source, downstream rotor point) pair in one pass, with no sequential dependency between
  sources. It bounds the step from above (the step also has the sweep's data dependency, the
  wind, sensors, reward and resets); the env records carry ``fraction_of_roofline``
  (goal: at least 0.5 at batch 1,024 and 16,384).

Run ``python -m twingym.bench.wind_farm [--quick]``.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from twingym.agents.sharding import batch_mesh, constrain_batch
from twingym.bench.common import (
    Record,
    best_time,
    env_throughput_records,
    machine_info,
    print_records,
    record,
)
from twingym.bench.roofline import fraction
from twingym.envs.wind_farm import turbine as tb
from twingym.envs.wind_farm import wake as wk
from twingym.envs.wind_farm.farm import (
    GRID_POINTS,
    WAKE_TI_LENGTH,
    WAKE_TI_OVERLAP_DEFICIT,
    WAKE_TI_WIDTH,
    rotor_offsets,
)

TWIN_ID = "WindFarm-v0"
BATCHES = (1, 64, 1024, 16384)
QUICK_BATCHES = (1024,)
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
    """``farm_power`` conditions/s on the default farm (float32 and float64) against FLORIS
    ``run()`` (same work, float64)."""
    from twingym.envs import make
    from twingym.envs.wind_farm import farm_power

    _, params = make(TWIN_ID)
    x, y = np.asarray(params.layout_x, np.float64), np.asarray(params.layout_y, np.float64)
    wd, ws, ti = _conditions(n_conditions)
    peer = floris_run_seconds(x, y, wd, ws, ti)
    records = []
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            run = lambda dtype=dtype: jax.block_until_ready(  # noqa: E731
                farm_power(x, y, wd, ws, ti, dtype=jnp.dtype(dtype)))
            run()  # compile
            ours = best_time(run, repeats=repeats)
        records.append(record(f"farm_power {dtype}, {len(x)} turbines, {n_conditions} conditions",
                              "conditions/s", n_conditions / ours, "FLORIS 4 FlorisModel.run()",
                              None if peer is None else n_conditions / peer, batch=n_conditions,
                              ours_seconds=ours, peer_seconds=peer))
    return records


def _roofline_inputs(batch: int, n: int, diameter: float, seed: int = 0):
    """Plausible wake-source states and a sorted layout for ``batch`` conditions, batch last."""
    rng = np.random.default_rng(seed)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    points = GRID_POINTS**2
    return dict(yaw=f32(rng.uniform(-20, 20, (n, 1, batch))), v=f32(rng.uniform(5, 12, (n, 1, batch))),
                ti=f32(rng.uniform(0.05, 0.15, (n, points, batch))),
                xs=f32(np.sort(rng.uniform(0, 8 * n * diameter / 3, (n, 1, batch)), axis=0)),
                ys=f32(rng.uniform(-3 * diameter, 3 * diameter, (n, 1, batch))),
                ambient=f32(rng.uniform(0.04, 0.12, (batch,))))


def wake_roofline_rate(batch: int, repeats: int = 3, calls: int = 10) -> float:
    """Conditions (= env steps) per second of the single-pass wake kernel on the default farm.

    Per condition: the wake constants of every turbine on its 3x3 rotor points (one pass), then
    deficit, deflection and Crespo-Hernandez added turbulence on every rotor point of every
    turbine downstream of each source (``n (n - 1) / 2`` turbine pairs x 9 points, as the step's
    sweep evaluates), summed in squares and maxed per target. The batch is split over the local
    devices like the env's. ``calls`` evaluations run inside one jitted ``lax.scan``.
    """
    from twingym.envs import make

    _, params = make(TWIN_ID)
    model, n = params.model, params.n_turbines
    D = model.turbine.rotor_diameter
    source, target = np.triu_indices(n, 1)
    g = rotor_offsets(D)
    dy, dz = jnp.repeat(g, GRID_POINTS)[:, None], jnp.tile(g, GRID_POINTS)[:, None]
    mesh = batch_mesh(batch)
    inputs = _roofline_inputs(batch, n, float(D))

    @jax.jit
    def kernel(inputs):
        inputs = constrain_batch(inputs, mesh, axis=-1)

        def body(acc, _):
            u0 = 8.0 + acc
            ct = tb.thrust_coefficient(model.turbine, inputs["v"] + acc, inputs["yaw"])
            a = tb.axial_induction(ct, inputs["yaw"])
            src = wk.wake_source(model.wake, inputs["yaw"], ct, inputs["ti"], D)   # (n, P, B)
            pair = jax.tree.map(lambda q: q[source] if jnp.ndim(q) else q, src)  # (pairs, P, B)
            dx = inputs["xs"][target] - inputs["xs"][source]
            lateral = inputs["ys"][target] + dy - inputs["ys"][source]
            du = wk.deficit_at(pair, dx, lateral - wk.deflection_at(pair, dx), dz) * u0
            overlap = jnp.mean(du > WAKE_TI_OVERLAP_DEFICIT, axis=1, keepdims=True)
            added = overlap * wk.added_turbulence(model.wake, dx, a[source], inputs["ambient"], D)
            inside = (jnp.abs(lateral) < WAKE_TI_WIDTH * D) & (dx <= WAKE_TI_LENGTH * D) & (added > 0)
            waked = jnp.where(inside, jnp.sqrt(added**2 + inputs["ambient"]**2), inputs["ambient"])
            sq = jax.ops.segment_sum(du**2, target, n)
            ti = jax.ops.segment_max(waked, target, n)
            return acc + 1e-9 * (jnp.sum(sq) + jnp.sum(ti)), None

        return jax.lax.scan(body, jnp.float32(0.0), None, length=calls)[0]

    jax.block_until_ready(kernel(inputs))
    seconds = best_time(lambda: jax.block_until_ready(kernel(inputs)), repeats=repeats)
    return batch * calls / seconds


def throughput_records(batches=BATCHES, steps: int = 100, gym_steps: int = 300,
                       repeats: int = 3) -> list[Record]:
    """Jitted-scan env steps/s per batch size against the gymnasium adapter loop (same run), each
    with the wake roofline kernel's rate at that batch and the fraction of it reached."""
    from twingym.envs import make

    records = env_throughput_records(TWIN_ID, *make(TWIN_ID), batches=batches, steps=steps,
                                     gym_steps=gym_steps, repeats=repeats)
    for r in records:
        roof = wake_roofline_rate(r["batch"], repeats=repeats)
        r.update(roofline_steps_per_s=roof, fraction_of_roofline=fraction(r["ours"], roof))
    return records


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
    for fp in (r for r in recs if r["metric"].startswith("farm_power") and r["ratio"] is not None):
        print(f"{fp['metric']} vs FLORIS: {fp['ratio']:.0f}x (goal >= 50x)")
    for r in (r for r in recs if "fraction_of_roofline" in r):
        print(f"env batch {r['batch']}: {r['ours']:.4g} steps/s = {r['fraction_of_roofline']:.2f} of "
              f"the wake roofline ({r['roofline_steps_per_s']:.4g}/s; goal >= 0.5), "
              f"{r['ratio']:.0f}x the gymnasium loop")


if __name__ == "__main__":
    main()
