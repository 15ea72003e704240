"""Classical controllers of PowerGrid-v0.

* ``do_nothing``: all zeros: no redispatch (generators follow the market schedule in the default
  ``gen_mode="schedule"``, keep their set points in ``gen_mode="ramp"``), batteries idle, no
  curtailment. In schedule mode it therefore equals ``merit_order``.
* ``merit_order`` (reference): economic dispatch of the next step's forecast net load (load minus
  forecast renewables, plus 2% losses) over the generators and the external grid at equal
  incremental cost (merit order of marginal costs), moved towards by at most one ramp per step.
  No curtailment, batteries idle. Ignores the network. In schedule mode this dispatch *is* the
  market schedule the env computes from the exact forecast, so the baseline sends zero
  redispatch; in ramp mode it computes it from the (noisy) observed forecast.
* ``dc_opf``: a DC optimal power flow with branch limits solved every step with scipy's HiGHS
  (host side, one copy at a time): redispatch within ramp and capacity limits, battery charge and
  discharge (stored energy valued at the mean generator price), curtailment, soft branch limits at
  95% of rating times the branch's observed active-power share of its apparent flow (violations
  cost 100x the mean price), lossless balance through the slack.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from twingym.envs.core import Baseline


def obs_slices(params: Any) -> dict[str, slice]:
    """Where each observation block lies (see the env docstring)."""
    L, n = params.br_f.shape[0], params.load_p.shape[0]
    G, B, R = params.gen_bus.shape[0], params.bat_bus.shape[0], params.ren_bus.shape[0]
    sizes = [("loading", L), ("status", L), ("p_bus", n), ("p_gen", G), ("schedule", G), ("p_slack", 1),
             ("soc", B), ("ren_now", R), ("ren_fc", R), ("load", 1), ("load_fc", 1), ("time", 2)]
    out, i = {}, 0
    for name, k in sizes:
        out[name] = slice(i, i + k)
        i += k
    return out


def _zeros(params: Any):
    G, B, R = params.gen_bus.shape[0], params.bat_bus.shape[0], params.ren_bus.shape[0]
    return jnp.zeros(G + B + R, jnp.float32)


def make_baselines(env: Any) -> dict[str, Baseline]:
    from twingym.envs.power_grid.env import merit_order

    def do_nothing(carry, obs, params):
        return _zeros(params), carry

    def merit(carry, obs, params):
        s = obs_slices(params)
        G, B, R = params.gen_bus.shape[0], params.bat_bus.shape[0], params.ren_bus.shape[0]
        if params.gen_mode == "schedule":   # the schedule is the merit order: follow it
            return jnp.zeros(G + B + R, jnp.float32), carry
        net_load = 1.02 * obs[s["load_fc"]][0] - jnp.sum(obs[s["ren_fc"]])
        pmin = jnp.concatenate([params.gen_pmin, params.slack_pmin[None]])
        pmax = jnp.concatenate([params.gen_pmax, params.slack_pmax[None]])
        cost = jnp.concatenate([params.gen_cost, params.slack_cost[None]])
        target = merit_order(net_load, pmin, pmax, cost)[:-1]
        delta = jnp.clip(target - obs[s["p_gen"]], -params.gen_ramp, params.gen_ramp)
        return jnp.concatenate([delta, jnp.zeros(B + R)]).astype(jnp.float32), carry

    def opf(carry, obs, params):
        return dc_opf_action(np.asarray(obs, dtype=np.float64), params), carry

    return {
        "do_nothing": Baseline("do_nothing", lambda p: (), do_nothing,
                               description="keep set points, batteries idle, no curtailment"),
        "merit_order": Baseline("merit_order", lambda p: (), merit,
                                description="economic dispatch of forecast net load, ramp-limited"),
        "dc_opf": Baseline("dc_opf", lambda p: (), opf, jittable=False,
                           description="DC optimal power flow with branch limits (scipy HiGHS)"),
    }


def ptdf(params: Any, status: np.ndarray) -> np.ndarray:
    """(L, n) power transfer distribution factors (MW on a branch per MW injected at a bus and
    withdrawn at the slack) of the DC model with the given branch status."""
    f, t = np.asarray(params.br_f), np.asarray(params.br_t)
    x = np.asarray(params.br_x, np.float64) * float(params.impedance_scale)
    tap = np.asarray(params.br_tap, np.float64)
    b = status / np.where(x == 0, 1.0, x * np.where(tap == 0, 1.0, tap))
    n, nl = np.asarray(params.load_p).shape[0], len(f)
    inc = np.zeros((nl, n))
    inc[np.arange(nl), f] = 1.0
    inc[np.arange(nl), t] -= 1.0
    bbus = inc.T @ (b[:, None] * inc)
    slack = int(np.argmax(np.asarray(params.is_slack)))
    keep = np.arange(n) != slack
    out = np.zeros((nl, n))
    red = bbus[np.ix_(keep, keep)]
    out[:, keep] = (b[:, None] * inc[:, keep]) @ np.linalg.pinv(red)
    return out


def dc_opf_action(obs: np.ndarray, params: Any) -> np.ndarray:
    """One DC-OPF decision for one copy (numpy in, numpy float32 action out)."""
    return dc_opf_solve(obs, params)["action"]


def dc_opf_solve(obs: np.ndarray, params: Any) -> dict[str, np.ndarray]:
    """The DC-OPF of one copy on the observed next-step forecast: ``action`` (float32, the
    twin's action), ``flow_mw`` (L,) the DC branch flows of the solution on the forecast
    injections, ``limit_mw`` (L,) the branch limits it was solved against (0.95 rating x active
    share, MW; large for branches out of service) and ``overflow_mw`` (L,) how far the soft limits
    were exceeded (zero when the limits could be met). All zeros when HiGHS fails."""
    from scipy.optimize import linprog

    s = obs_slices(params)
    G, B, R = params.gen_bus.shape[0], params.bat_bus.shape[0], params.ren_bus.shape[0]
    n, L = np.asarray(params.load_p).shape[0], np.asarray(params.br_f).shape[0]
    dt, sn = float(params.dt_h), float(params.sn_mva)
    p_gen = np.asarray(obs[s["p_gen"]])
    soc = np.clip(obs[s["soc"]], 0.0, 1.0)
    ren_fc = np.maximum(obs[s["ren_fc"]], 0.0)
    status = (obs[s["status"]] > 0.5).astype(np.float64)
    base = np.asarray(params.load_p, np.float64)
    load = base * float(obs[s["load_fc"]][0]) / max(float(base.sum()), 1e-9)
    gen_bus, ren_bus, bat_bus = (np.asarray(params.gen_bus), np.asarray(params.ren_bus),
                                 np.asarray(params.bat_bus))
    cost = np.asarray(params.gen_cost, np.float64)
    price_ref = float(params.reward_scale) / max(float(base.sum()) * dt, 1e-9)
    ramp, pmin, pmax = (np.asarray(params.gen_ramp, np.float64), np.asarray(params.gen_pmin),
                        np.asarray(params.gen_pmax))
    e_max, eff = np.asarray(params.bat_e_max, np.float64), np.asarray(params.bat_eff, np.float64)
    bp = np.asarray(params.bat_p_max, np.float64)

    # variable layout: [dg (G), dis (B), chg (B), curt (R), slack (1), over+ (L), over- (L)]
    nv = G + 2 * B + R + 1 + 2 * L
    ig, idis, ichg = np.arange(G), G + np.arange(B), G + B + np.arange(B)
    icur, isl = G + 2 * B + np.arange(R), G + 2 * B + R
    iop, iom = isl + 1 + np.arange(L), isl + 1 + L + np.arange(L)
    c = np.zeros(nv)
    c[ig] = cost[:, 0] + 2 * cost[:, 1] * p_gen
    c[idis] = float(params.battery_wear) + price_ref / eff
    c[ichg] = float(params.battery_wear) - price_ref * eff
    c[icur] = float(params.curtail_cost) * ren_fc
    # the external grid's cost linearised at its observed power, as the generators' are
    p_slack = float(np.asarray(obs[s["p_slack"]])[0])
    c[isl] = float(params.slack_cost[0]) + 2 * float(params.slack_cost[1]) * max(p_slack, 0.0)
    c[iop] = c[iom] = 100.0 * price_ref

    # injections per bus as an affine map of the variables: P = P0 + M v
    p0 = -load.copy()
    np.add.at(p0, gen_bus, p_gen)
    np.add.at(p0, ren_bus, ren_fc)
    m = np.zeros((n, nv))
    m[gen_bus, ig] += 1.0
    m[bat_bus, idis] += 1.0
    m[bat_bus, ichg] -= 1.0
    m[ren_bus, icur] -= ren_fc
    # balance: sum(P) + slack = 0
    a_eq = m.sum(axis=0, keepdims=True)
    a_eq[0, isl] = 1.0
    b_eq = np.array([-p0.sum()])
    # branch limits: |PTDF P| <= 0.95 rating * pf + over, where pf (the active share of the
    # branch's apparent flow) is estimated from the observed loading and the DC flow now
    h = ptdf(params, status)
    rating_mw = np.asarray(params.rating_pu, np.float64) * float(params.rating_scale) * sn
    s_now = np.asarray(obs[s["loading"]], np.float64) * rating_mw
    p_now = np.abs(h @ np.asarray(obs[s["p_bus"]], np.float64))
    pf = np.where(s_now > 0.05 * rating_mw, np.clip(p_now / np.maximum(s_now, 1e-9), 0.5, 1.0), 1.0)
    lim = 0.95 * rating_mw * pf * status + 1e3 * (1 - status)
    flow0, flow_m = h @ p0, h @ m
    a_ub = np.vstack([flow_m, -flow_m])
    a_ub[np.arange(L), iop] = -1.0
    a_ub[L + np.arange(L), iom] = -1.0
    b_ub = np.concatenate([lim - flow0, lim + flow0])
    bounds = ([(max(-r, lo - p), min(r, hi - p)) for r, lo, hi, p in zip(ramp, pmin, pmax, p_gen, strict=True)]
              + [(0.0, float(min(q, so * e * ef / dt))) for q, so, e, ef in zip(bp, soc, e_max, eff, strict=True)]
              + [(0.0, float(min(q, (1 - so) * e / (ef * dt)))) for q, so, e, ef in zip(bp, soc, e_max, eff, strict=True)]
              + [(0.0, 1.0)] * R
              + [(float(params.slack_pmin), float(params.slack_pmax))] + [(0.0, None)] * (2 * L))
    bounds = [(lo, hi) if hi is None or lo <= hi else (hi, hi) for lo, hi in bounds]
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0 or res.x is None:
        return {"action": np.zeros(G + B + R, np.float32), "flow_mw": np.zeros(L), "limit_mw": lim,
                "overflow_mw": np.zeros(L)}
    v = res.x
    dg = v[ig]
    if params.gen_mode == "schedule":   # express the new set point against the schedule
        dg = p_gen + dg - np.asarray(obs[s["schedule"]], np.float64)
    action = np.concatenate([dg, v[idis] - v[ichg], v[icur]]).astype(np.float32)
    span = pmax - pmin if params.gen_mode == "schedule" else ramp
    low = np.concatenate([-span, -bp, -np.ones(R)]).astype(np.float32)
    high = np.concatenate([span, bp, np.ones(R)]).astype(np.float32)
    return {"action": np.clip(action, low, high), "flow_mw": flow0 + flow_m @ v, "limit_mw": lim,
            "overflow_mw": np.maximum(v[iop], v[iom])}
