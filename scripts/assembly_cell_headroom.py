"""Headroom of hand-written variants of the ``bottleneck_aware`` rule in AssemblyCell-v0.

``python scripts/assembly_cell_headroom.py [SCENARIO ...] [--episodes 1024]`` runs the rule and each
variant below on the same episodes (common random numbers, keys ``split(PRNGKey(99), episodes)``,
disjoint from validation's and tuning's) and prints, per scenario, the paired profit difference
variant - rule per 8-h shift (mean +- 95 % half-width, EUR). Every variant is the rule with one or
more changes:

- ``off``: a station that cannot take a part this cycle (upstream buffer empty, or downstream buffer
  full while the next station is down) is switched off instead of idling at eco. It processes
  exactly what the rule processes, so only the idle energy changes;
- ``thr<x>``: maintain when the wear sensor reads above ``x`` (the rule: ``pm_wear_threshold``);
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
from twingym.envs.assembly_cell.baselines import BACKLOG_HIGH, PRICE_HIGH, STOCK_HIGH
from twingym.envs.assembly_cell.dynamics import BOOST, ECO, NOMINAL, OFF
from twingym.envs.assembly_cell.scenarios import SCENARIOS
from twingym.envs.core import Baseline
from twingym.policies.baseline_tuning import evaluate_point

HEADROOM_SEED = 99
EUR_PER_SHIFT = 100.0 / 3.0     # return units per day -> EUR per 8-h shift (reward_scale 0.01)


def rule_variant(threshold: float | None = None, idle_off: bool = False, opportunistic: float | None = None,
                 stock_high: float = STOCK_HIGH, backlog_high: float = BACKLOG_HIGH) -> Callable:
    """The ``act(carry, obs, params)`` of the rule with the given changes (defaults: the rule itself)."""

    def act(carry, obs, params):
        m = params.num_stations
        station = lambda field: jnp.stack([obs[ob.station_index(i, field)] for i in range(m)])  # noqa: E731
        buffers = jnp.stack([obs[ob.buffer_index(m, i)] for i in range(m - 1)])
        backlog = obs[ob.cell_index(m, "backlog")]
        stock = obs[ob.cell_index(m, "finished_stock")]
        price = obs[ob.cell_index(m, "price")]
        up, wear = station("is_up") > 0.5, station("wear_sensor")
        starved = jnp.concatenate([jnp.ones((1,)), buffers]) <= 0.0
        downstream_fill = jnp.concatenate([buffers / params.buffer_capacity.astype(jnp.float32), jnp.zeros((1,))])
        blocked = downstream_fill >= 1.0
        next_down = jnp.concatenate([~up[1:], jnp.zeros((1,), bool)])
        bottleneck = jnp.arange(m) == jnp.argmin(params.proc_prob[:, NOMINAL])
        rush = backlog > backlog_high
        relax = (stock > stock_high) | ((price > PRICE_HIGH) & (backlog <= 1.0) & (stock > 1.0))
        speed = jnp.where(relax, ECO, NOMINAL)
        speed = jnp.where(rush & (bottleneck | (downstream_fill < 0.5)), BOOST, speed)
        speed = jnp.where(starved | blocked, ECO, speed)
        if idle_off:
            speed = jnp.where(starved | (blocked & next_down), OFF, speed)
        maintain = up & (wear > (params.pm_wear_threshold if threshold is None else threshold))
        if opportunistic is not None:
            maintain = maintain | (up & (starved | blocked) & (wear > opportunistic))
        action = jnp.stack([speed.astype(jnp.int32), maintain.astype(jnp.int32)], axis=1).reshape(-1)
        return action, carry

    return act


VARIANTS: dict[str, dict] = {
    "off": {"idle_off": True},
    "thr0.35": {"threshold": 0.35},
    "thr0.40": {"threshold": 0.40},
    "thr0.45": {"threshold": 0.45},
    "opp0.40": {"opportunistic": 0.40},
    "opp0.45": {"opportunistic": 0.45},
    "opp0.50": {"opportunistic": 0.50},
    "opp0.45+off": {"opportunistic": 0.45, "idle_off": True},
    "stock3": {"stock_high": 3.0},
    "backlog2": {"backlog_high": 2.0},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"default: all of {', '.join(SCENARIOS)}")
    parser.add_argument("--episodes", type=int, default=1024)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    scenarios = args.scenarios or list(SCENARIOS)
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS] + [s for s in scenarios if s not in SCENARIOS]
    if unknown or args.episodes < 2:
        parser.error(f"unknown variant or scenario {unknown[0]!r}" if unknown else "--episodes must be at least 2")
    env, base = te.make("AssemblyCell-v0")
    keys = jax.random.split(jax.random.PRNGKey(HEADROOM_SEED), args.episodes)
    names = args.variants.split(",")
    print(f"profit difference variant - bottleneck_aware, EUR per 8-h shift, {args.episodes} paired days")
    print("scenario            rule      " + "  ".join(f"{n:>15s}" for n in names))
    for scenario in scenarios:
        params = base.replace(**SCENARIOS[scenario])
        rule = evaluate_point(env, params, env.baselines()["bottleneck_aware"], keys, ())[0]
        rewritten = evaluate_point(env, params, Baseline("rule", lambda p: (), rule_variant()), keys, ())[0]
        if not np.array_equal(rule, rewritten):
            raise SystemExit("error: rule_variant() no longer reproduces bottleneck_aware; update it")
        cells = []
        for name in names:
            ret = evaluate_point(env, params, Baseline(name, lambda p: (), rule_variant(**VARIANTS[name])), keys, ())[0]
            d = (ret - rule) * EUR_PER_SHIFT
            cells.append(f"{d.mean():+7.2f} +-{1.96 * d.std(ddof=1) / np.sqrt(d.size):5.2f}")
        print(f"{scenario:18s} {rule.mean() * EUR_PER_SHIFT:+7.1f}   " + "  ".join(f"{c:>15s}" for c in cells),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
