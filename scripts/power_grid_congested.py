"""The congested power-grid table of docs/twins/power_grid.md: a trained policy, merit order,
DC-OPF on the forecast and DC-OPF with perfect foresight on every scenario of PowerGridCongested-v0
(and the uncongested comparison day), on common episode keys (those of ``twingym evaluate``).

``python scripts/power_grid_congested.py RUN [--episodes 64] [--seed 12345] [--json OUT]``

Per controller and scenario: mean return, $ per day (generation, curtailment, wear, unserved energy
and priced overload), overload MVAh per day, blackouts; paired 95 % intervals of policy minus each
controller, and the gap of the policy to the oracle.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs import make
from twingym.envs.power_grid.congested import UNCONGESTED
from twingym.training.cli_support import run_policy_controller
from twingym.training.driver import run_config
from twingym.training.evaluate import _split_episode_keys, episode_keys, mean_ci


def _metrics(reward, info, alive):
    dollars = info["dollars"] + info["overload_dollars"]
    return (jnp.where(alive, reward, 0.0), jnp.where(alive, dollars, 0.0),
            jnp.where(alive, info["overload_mva"], 0.0))


def jit_rollout(env, params, ctrl, keys, steps):
    reset_keys, step_keys = _split_episode_keys(keys, steps)

    @jax.jit
    def run(reset_keys, step_keys):
        def episode(kr, ks):
            obs, state = env.reset(kr, params)

            def step(c, k):
                obs, state, alive = c
                a, _ = ctrl.act((), obs, params)
                obs, state, r, term, trunc, info = env.step(k, state, a, params)
                out = (*_metrics(r, info, alive), alive & term)
                return (obs, state, alive & ~(term | trunc)), out

            _, outs = jax.lax.scan(step, (obs, state, jnp.asarray(True)), ks)
            return tuple(o.sum(0) for o in outs)

        return jax.vmap(episode)(reset_keys, step_keys)

    return [np.asarray(x, np.float64) for x in run(reset_keys, step_keys)]


def host_rollout(env, params, ctrl, keys, steps):
    reset_keys, step_keys = _split_episode_keys(keys, steps)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    stepf = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    obs, state = reset(reset_keys, params)
    e = len(keys)
    alive = np.ones(e, bool)
    tot = [np.zeros(e) for _ in range(4)]
    for t in range(steps):
        o = np.asarray(obs)
        act = np.stack([np.asarray(ctrl.act((), o[i], params)[0]) for i in range(e)])
        obs, state, r, term, trunc, info = stepf(step_keys[:, t], state, jnp.asarray(act), params)
        vals = [np.asarray(v) for v in _metrics(r, info, jnp.asarray(alive))]
        for k in range(3):
            tot[k] += vals[k]
        tot[3] += alive & np.asarray(term)
        alive &= ~(np.asarray(term) | np.asarray(trunc))
        if not alive.any():
            break
    return tot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--json", default=None)
    ap.add_argument("--scenarios", default=None, help="comma-separated subset")
    a = ap.parse_args()
    cfg = run_config(a.run)
    env, base = make(cfg.twin, **cfg.env_params)
    policy = run_policy_controller(Path(a.run))
    b = env.baselines()
    oracle, oracle_overrides = env.oracle_controllers()["dc_opf_foresight"]
    scenarios = {**env.scenarios(), "uncongested": dict(UNCONGESTED)}
    if a.scenarios:
        scenarios = {k: v for k, v in scenarios.items() if k in a.scenarios.split(",")}
    keys = episode_keys(a.seed, a.episodes)
    steps = int(base.max_steps)
    out = {}
    for name, overrides in scenarios.items():
        p = env.replace_params(base, **overrides)
        res = {"policy": jit_rollout(env, p, policy, keys, steps),
               "merit_order": jit_rollout(env, p, b["merit_order"], keys, steps),
               "dc_opf": host_rollout(env, p, b["dc_opf"], keys, steps),
               "dc_opf_foresight": host_rollout(env, env.replace_params(p, **oracle_overrides), oracle,
                                                keys, steps)}
        rows = {}
        for c, (ret, dol, mva, bo) in res.items():
            d = ret - res["policy"][0]   # controller - policy
            lo, hi = mean_ci(-d)
            rows[c] = {"return": float(ret.mean()), "dollars": float(dol.mean()),
                       "overload_mvah": float(mva.mean() * float(p.dt_h)), "blackouts": int(bo.sum()),
                       "policy_minus": [float(-d.mean()), lo, hi]}
        out[name] = rows
        print(f"== {name} ({a.episodes} episodes, seed {a.seed})")
        for c, r in rows.items():
            pm = r["policy_minus"]
            print(f"  {c:17s} return {r['return']:9.3f}  $ {r['dollars']:10.1f}  overload {r['overload_mvah']:7.3f} MVAh"
                  f"  blackouts {r['blackouts']:2d}  policy - it {pm[0]:+8.3f} [{pm[1]:+8.3f}, {pm[2]:+8.3f}]",
                  flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
