"""Headroom of hand-written variants of the ``bottleneck_aware`` rule in AssemblyCell-v0.

``python scripts/assembly_cell_headroom.py [SCENARIO ...] [--episodes 1024]`` runs the rule and each
variant below on the same episodes (common random numbers, keys ``split(PRNGKey(99), episodes)``,
disjoint from validation's and tuning's) and prints, per scenario, the paired profit difference
variant - rule per 8-h shift (mean +- 95 % half-width, EUR). Every variant is the rule with one or
more changes:

- ``off``: a station that cannot take a part this cycle (upstream buffer empty, or downstream buffer
  full while the next station is down) is switched off instead of idling at eco. It processes
  exactly what the rule processes, so only the idle energy changes;
- ``thr<x>``: the rule with ``pm_wear_threshold = x`` (maintain when the wear sensor reads above it);
- ``opp<x>``: also maintain an idle station (starved or blocked) whose wear sensor reads above ``x``
  (opportunistic maintenance: the downtime falls where the station could not work anyway);
- ``stock<s>``: run at eco once the finished stock exceeds ``s`` parts (the rule: 6);
- ``backlog<b>``: boost the bottleneck once the backlog exceeds ``b`` parts (the rule: 4).

``--variants`` picks which (comma-separated names as printed; default: all). Takes about 5 minutes for
the six scenarios and ten variants at 1,024 episodes on a 2-core machine (one compilation per
controller and scenario).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import twingym.envs as te
from twingym.envs.assembly_cell import observation as ob
from twingym.envs.assembly_cell.baselines import bottleneck_aware_action
from twingym.envs.assembly_cell.dynamics import OFF
from twingym.envs.assembly_cell.scenarios import SCENARIOS
from twingym.envs.core import Baseline
from twingym.policies.baseline_tuning import evaluate_point
from twingym.policies.kpis import kpis_for

from twingym.stats import t_interval

TWIN = "AssemblyCell-v0"
HEADROOM_SEED = 99
PROFIT = tuple(k for k in kpis_for(TWIN) if k.key == "profit_eur")   # EUR, per 8-h shift from evaluate_point


def rule_variant(idle_off: bool = False, opportunistic: float | None = None, **rule_triggers: float) -> Callable:
    """The ``act(carry, obs, params)`` of the rule (``rule_triggers``: its ``stock_high`` /
    ``backlog_high``), then: with ``idle_off`` stations that cannot work this cycle off; with
    ``opportunistic`` also maintain idle up stations whose wear sensor reads above it."""

    def act(carry, obs, params):
        m = params.num_stations
        action = bottleneck_aware_action(obs, params, **rule_triggers).reshape(m, 2)
        buffers = jnp.stack([obs[ob.buffer_index(m, i)] for i in range(m - 1)])
        up = jnp.stack([obs[ob.station_index(i, "is_up")] for i in range(m)]) > 0.5
        wear = jnp.stack([obs[ob.station_index(i, "wear_sensor")] for i in range(m)])
        starved = jnp.concatenate([jnp.ones((1,)), buffers]) <= 0.0
        blocked = jnp.concatenate([buffers >= params.buffer_capacity, jnp.zeros((1,), bool)])
        next_down = jnp.concatenate([~up[1:], jnp.zeros((1,), bool)])
        speed, maintain = action[:, 0], action[:, 1] > 0
        if idle_off:
            speed = jnp.where(starved | (blocked & next_down), OFF, speed)
        if opportunistic is not None:
            maintain = maintain | (up & (starved | blocked) & (wear > opportunistic))
        return jnp.stack([speed, maintain.astype(jnp.int32)], axis=1).reshape(-1), carry

    return act


#: name -> (twin param overrides, rule_variant kwargs)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "off": ({}, {"idle_off": True}),
    "thr0.35": ({"pm_wear_threshold": 0.35}, {}),
    "thr0.40": ({"pm_wear_threshold": 0.40}, {}),
    "thr0.45": ({"pm_wear_threshold": 0.45}, {}),
    "opp0.40": ({}, {"opportunistic": 0.40}),
    "opp0.45": ({}, {"opportunistic": 0.45}),
    "opp0.50": ({}, {"opportunistic": 0.50}),
    "opp0.45+off": ({}, {"opportunistic": 0.45, "idle_off": True}),
    "stock3": ({}, {"stock_high": 3.0}),
    "backlog2": ({}, {"backlog_high": 2.0}),
}


def profit_per_shift(env, params, act: Callable, keys: jax.Array) -> np.ndarray:
    """Profit [EUR per 8-h shift] of each episode (E,) of the controller ``act`` on ``keys``."""
    return evaluate_point(env, params, Baseline("variant", lambda p: (), act), keys, PROFIT)[1]["profit_eur"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"default: all of {', '.join(SCENARIOS)}")
    parser.add_argument("--episodes", type=int, default=1024)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    scenarios = args.scenarios or list(SCENARIOS)
    names = args.variants.split(",")
    unknown = [v for v in names if v not in VARIANTS] + [s for s in scenarios if s not in SCENARIOS]
    if unknown or args.episodes < 2:
        parser.error(f"unknown variant or scenario {unknown[0]!r}" if unknown else "--episodes must be at least 2")
    env, base = te.make(TWIN)
    keys = jax.random.split(jax.random.PRNGKey(HEADROOM_SEED), args.episodes)
    print(f"profit difference variant - bottleneck_aware, EUR per 8-h shift, {args.episodes} paired days")
    print("scenario            rule      " + "  ".join(f"{n:>15s}" for n in names))
    for scenario in scenarios:
        params = base.replace(**SCENARIOS[scenario])
        rule = profit_per_shift(env, params, rule_variant(), keys)
        cells = []
        for name in names:
            overrides, changes = VARIANTS[name]
            d = profit_per_shift(env, params.replace(**overrides), rule_variant(**changes), keys) - rule
            mean, low, high = t_interval(d)
            cells.append(f"{mean:+7.2f} +-{(high - low) / 2:5.2f}")
        print(f"{scenario:18s} {rule.mean():+7.1f}   " + "  ".join(f"{c:>15s}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
