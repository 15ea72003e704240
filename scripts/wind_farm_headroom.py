"""Headroom of hand-written controllers over the wake-steering table in WindFarm-v0 (residual twin).

``python scripts/wind_farm_headroom.py steady`` re-optimises the yaw offsets at every condition of a
fine grid (1 deg x 1 m/s) at several turbulence intensities and prints what that gains over the
table (optimised at the middle of the TI range on 3 deg x 3 m/s bins), per hour of steady wind, in
the twin's return units (one unit = 1/120 of the farm's rated energy over the hour).

``python scripts/wind_farm_headroom.py dynamic SCENARIO ... [--episodes 128] [--dropout]`` runs
controllers in the residual twin on common seeds and prints each one's paired return difference
from the table (mean +- 95 % half-width), its yaw travel, limit violations and energy:

- ``hold<d>``: keep the heading (send ``yaw_offset - table_offset``) whenever the table would move
  the nacelle by less than ``d`` deg; otherwise follow the table;
- ``smooth<c>``: send ``c`` times that hold correction (a first-order lag on the setpoint);
- ``fine_ti`` / ``fine_mid``: a finer table (1 deg x 1 m/s x TI every 0.04, trilinear) read at the
  met-mast TI / at the middle of the TI range;
- ``fallback0``: the table, except that the first step of the episodes whose first observation holds
  a NaN (64 %) goes to greedy, as the validation's observation guard does for a policy.

``--dropout`` feeds the controllers observations corrupted like the validation's ``sensor_dropout``
(each component frozen for 5 steps with 2 % per step, held for one step with 2 %, the NaN's
sanitised value); the table inside the twin reads clean sensors, as in validation.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import twingym.envs as te
from twingym.envs.wind_farm.baselines import _objective_terms, lookup, optimise_yaw, wake_steering_table
from twingym.envs.wind_farm.scenarios import SCENARIOS

FINE_WD = np.arange(235.0, 305.01, 1.0, dtype=np.float32)   # deg
FINE_WS = np.arange(4.0, 14.01, 1.0, dtype=np.float32)      # m/s
FINE_TI = np.array([0.04, 0.08, 0.12, 0.16, 0.20], np.float32)
STALE_PROB, STALE_STEPS, NAN_PROB = 0.02, 5, 0.02

Controller = Callable[[jax.Array, jax.Array], jax.Array]   # (obs, step) -> correction (deg)


def steady() -> None:
    _, params = te.make("WindFarm-v0")
    table = jnp.asarray(wake_steering_table(params))
    wd, ws = (jnp.asarray(a.ravel()) for a in np.meshgrid(np.arange(255.0, 285.01, 1.0, dtype=np.float32),
                                                          np.arange(5.0, 13.01, 1.0, dtype=np.float32),
                                                          indexing="ij"))
    table_yaw = jax.vmap(lambda a, b: jnp.clip(lookup(table, a, b), -25.0, 25.0))(wd, ws)
    args = (params.model, params.layout_x, params.layout_y, wd, ws)
    for ti in (0.04, 0.06, 0.08, 0.10, 0.12):
        _, best = optimise_yaw(*args, jnp.float32(ti), jnp.float32(25.0), jnp.float32(params.load_weight))
        tab = _objective_terms(*args, jnp.float32(ti), table_yaw, 25.0, params.load_weight)
        greedy = _objective_terms(*args, jnp.float32(ti), jnp.zeros_like(table_yaw), 25.0, params.load_weight)
        steps = params.max_steps
        print(f"TI {ti:.2f}: re-optimised - table {float(jnp.mean(best - tab)) * steps:+.3f} per hour; "
              f"table - greedy {float(jnp.mean(tab - greedy)) * steps:+.3f}")


def fine_table(params) -> jax.Array:
    """Offsets (deg) optimised on FINE_WD x FINE_WS x FINE_TI, shape (wd, ws, ti, n)."""
    wd, ws = (jnp.asarray(a.ravel()) for a in np.meshgrid(FINE_WD, FINE_WS, indexing="ij"))
    out = [optimise_yaw(params.model, params.layout_x, params.layout_y, wd, ws, jnp.float32(ti),
                        jnp.float32(params.max_yaw_offset), jnp.float32(params.load_weight))[0]
           for ti in FINE_TI]
    return jnp.stack([np.asarray(y).reshape(len(FINE_WD), len(FINE_WS), -1) for y in out], 2)


def trilinear(fine: jax.Array, wd, ws, ti) -> jax.Array:
    idx, frac = [], []
    for value, grid in ((wd, FINE_WD), (ws, FINE_WS), (ti, FINE_TI)):
        f = jnp.clip((value - grid[0]) / (grid[1] - grid[0]), 0.0, len(grid) - 1.001)
        idx.append(jnp.floor(f).astype(jnp.int32))
        frac.append(f - jnp.floor(f))
    out = 0.0
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                w = ((frac[0] if di else 1 - frac[0]) * (frac[1] if dj else 1 - frac[1])
                     * (frac[2] if dk else 1 - frac[2]))
                out = out + w * fine[idx[0] + di, idx[1] + dj, idx[2] + dk]
    return out


def controllers(params) -> dict[str, Controller]:
    n = params.n_turbines
    lim = params.max_yaw_offset

    def hold(obs):
        return obs[2:4 * n:4] - obs[4 * n + 5:]          # yaw_offset - table_offset (deg)

    def hold_band(d):
        return lambda obs, t: jnp.where(jnp.abs(hold(obs)) < d, hold(obs), 0.0)

    def smooth(c):
        return lambda obs, t: c * hold(obs)

    fine = fine_table(params)
    mid_ti = 0.5 * (params.ti_low + params.ti_high)

    def fine_at(use_ti):
        return lambda obs, t: jnp.clip(trilinear(fine, obs[4 * n], obs[4 * n + 3],
                                                 obs[4 * n + 4] if use_ti else mid_ti), -lim, lim) - obs[4 * n + 5:]

    out: dict[str, Controller] = {"table": lambda obs, t: jnp.zeros(n),
                                  "greedy": lambda obs, t: -obs[4 * n + 5:]}
    out.update({f"hold{d:g}": hold_band(d) for d in (1.0, 2.0, 3.0, 5.0)})
    out.update({f"smooth{c:g}": smooth(c) for c in (0.3, 0.5, 0.7)})
    out.update({"fine_mid": fine_at(False), "fine_ti": fine_at(True)})
    return out


def rollout(env, params, ctrl: Controller | None, episodes: int, dropout: bool, seed: int = 0,
            fallback0: bool = False) -> dict[str, np.ndarray]:
    """Per-episode return, energy (MW-steps), travel (deg, all turbines) and cost sums."""
    n = params.n_turbines
    dim = 5 * n + 5
    p_nan_first = 1.0 - (1.0 - NAN_PROB) ** dim

    def one(key):
        k_reset, k_steps, k_first = jax.random.split(key, 3)
        first_nan = jax.random.uniform(k_first) < p_nan_first
        obs, state = env.reset(k_reset, params)

        def body(carry, inputs):
            obs, state, seen, stale = carry
            key, t = inputs
            k_stale, k_nan, k_step = jax.random.split(key, 3)
            if dropout:
                start = (jax.random.uniform(k_stale, (dim,)) < STALE_PROB) & (stale == 0)
                stale = jnp.where(start, STALE_STEPS, stale)
                nan = jax.random.uniform(k_nan, (dim,)) < NAN_PROB
                seen = jnp.where((stale > 0) | nan, seen, obs)
                stale = jnp.maximum(stale - 1, 0)
            else:
                seen = obs
            if fallback0:
                action = jnp.where(first_nan & (t == 0), -obs[4 * n + 5:], 0.0)
            else:
                action = ctrl(seen, t)
            obs, state, reward, _, _, info = env.step(k_step, state, action, params)
            return (obs, state, seen, stale), (reward, info["farm_power_mw"], info["yaw_travel_deg"],
                                               info["cost"])

        steps = (jax.random.split(k_steps, params.max_steps), jnp.arange(params.max_steps))
        _, outs = jax.lax.scan(body, (obs, state, obs, jnp.zeros(dim, jnp.int32)), steps)
        return tuple(o.sum() for o in outs)

    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    ret, energy, travel, cost = jax.jit(jax.vmap(one))(keys)
    return {"return": np.asarray(ret), "energy": np.asarray(energy), "travel": np.asarray(travel),
            "cost": np.asarray(cost)}


def dynamic(scenarios: list[str], episodes: int, dropout: bool) -> None:
    env, base = te.make("WindFarm-v0", action_mode="residual")
    for name in scenarios:
        params = env.replace_params(base, **SCENARIOS[name])
        n = params.n_turbines
        runs = {k: rollout(env, params, c, episodes, dropout) for k, c in controllers(params).items()}
        runs["fallback0"] = rollout(env, params, None, episodes, dropout, fallback0=True)
        table, greedy = runs["table"], runs["greedy"]
        gain = 100 * (table["energy"].sum() / greedy["energy"].sum() - 1)
        print(f"{name}{' (policy-side dropout)' if dropout else ''}: table return {table['return'].mean():.3f}, "
              f"energy vs greedy {gain:+.2f} %")
        for key, run in runs.items():
            d = run["return"] - table["return"]
            half = 1.98 * d.std(ddof=1) / np.sqrt(episodes)
            print(f"  {key:10s} - table {d.mean():+.4f} +- {half:.4f}  "
                  f"energy vs greedy {100 * (run['energy'].sum() / greedy['energy'].sum() - 1):+.2f} %  "
                  f"travel {run['travel'].mean() / n:5.0f} deg/turbine/h  cost {run['cost'].mean():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("steady")
    dyn = sub.add_parser("dynamic")
    dyn.add_argument("scenarios", nargs="*", default=["nominal"], choices=sorted(SCENARIOS))
    dyn.add_argument("--episodes", type=int, default=128)
    dyn.add_argument("--dropout", action="store_true")
    args = ap.parse_args()
    if args.what == "steady":
        steady()
    else:
        dynamic(args.scenarios or ["nominal"], args.episodes, args.dropout)


if __name__ == "__main__":
    main()
