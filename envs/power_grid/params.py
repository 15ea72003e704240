"""``PowerGridParams``: everything physical of the grid twin, built host-side from a ``Network``.

Documented rules used when the case does not say:

* Renewables: ``n_wind`` wind units on the non-slack buses with the largest load, then ``n_solar``
  solar units on the next ones (or explicit ``wind_buses`` / ``solar_buses``, pandapower bus
  indices). Capacities: ``wind_share`` and ``solar_share`` of the total nominal load, split evenly.
* Batteries: ``n_battery`` units on the renewable buses (or ``battery_buses``); power limit
  ``battery_power_share`` of total load each, energy ``battery_hours`` times the power limit,
  one-way efficiency ``battery_efficiency``.
* Line ratings (``ratings="case"``, default): the case's own (``max_i_ka`` at nominal voltage for
  lines, ``sn_mva`` for trafos) where it is below 9000 MVA; otherwise ``|S| / rating_base_loading``
  of the case's own base operating point (a line carrying ``rating_base_loading`` of its rating at
  peak base load), floored at ``rating_floor_share`` of the median of those values.
  ``ratings="derived"`` rates every branch from the twin's own do-nothing day instead
  (``import_check.derive_ratings``, applied by ``PowerGrid.make_params``; the fix
  ``make_params(net=...)`` suggests when an imported case fails under do-nothing).
* Ramp limits: ``ramp_share`` of each generator's ``max_p_mw`` per step.
* Costs: the case's ``poly_cost`` (linear and quadratic terms); 30 $/MWh linear if missing.
  Reference price ``price_ref``: the mean positive linear price of the generators and the
  external grid; it sets ``reward_scale`` (nominal load for one step at that price), the value of
  stored battery energy ``stored_energy_price`` and the curtailment cost (2x).
* Curtailment actions lie in ``[-1, 1]``; the curtailed fraction is ``max(a, 0)`` (the middle of
  the range is "no curtailment").
* Solver tolerance (float32): 1e-5 pu power mismatch (1 kW on a 100 MVA base), or 3 times the
  float32 round-off floor of the mismatch at the base solution if that is larger (case118:
  about 5e-5 pu).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from twingym.envs.power_grid.network import Network
from twingym.envs.power_grid.types import PowerGridParams

F32 = jnp.float32

#: make_params options that are not PowerGridParams fields (they change shapes or derived values)
BUILD_OPTIONS = dict(
    n_wind=1, n_solar=1, n_battery=1, wind_buses=None, solar_buses=None, battery_buses=None,
    wind_share=0.25, solar_share=0.15, battery_power_share=0.05, battery_hours=4.0,
    battery_efficiency=0.95, rating_base_loading=0.7, rating_floor_share=0.3, ramp_share=0.1,
    ratings="case",
)
#: values of the ``ratings`` build option
RATING_RULES = ("case", "derived")


def _masked_jacobian(y: np.ndarray, v: np.ndarray, active: np.ndarray) -> np.ndarray:
    """numpy twin of ``powerflow.jacobian`` (float64), identity rows where not ``active``."""
    ibus = y @ v
    vn = v / np.abs(v)
    ds_dvm = v[:, None] * np.conj(y * vn[None, :]) + np.diag(np.conj(ibus) * vn)
    ds_dva = 1j * v[:, None] * np.conj(np.diag(ibus) - y * v[None, :])
    jac = np.block([[ds_dva.real, ds_dvm.real], [ds_dva.imag, ds_dvm.imag]])
    return np.where(active[:, None], jac, np.eye(len(active)))


def _shift_angles(network: Network) -> np.ndarray:
    """Start angles (rad): the slack's angle carried through every phase-shifting transformer
    (``va_to = va_from - shift``), so that a flat start is not 150 degrees off behind a Dyn5 unit."""
    va = np.full(network.n_bus, np.nan)
    va[network.slack_bus] = np.deg2rad(network.slack_va_deg)
    shift = np.deg2rad(network.br_shift_deg)
    adj: list[list[tuple[int, float]]] = [[] for _ in range(network.n_bus)]
    for f, t, d, on in zip(network.br_from, network.br_to, shift, network.br_in_service, strict=True):
        if on:
            adj[f].append((t, -d))
            adj[t].append((f, d))
    stack = [network.slack_bus]
    while stack:
        b = stack.pop()
        for nb, d in adj[b]:
            if np.isnan(va[nb]):
                va[nb] = va[b] + d
                stack.append(nb)
    return np.where(np.isnan(va), va[network.slack_bus], va)


def _base_solution(network: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the case's own operating point on the host in float64 (Newton-Raphson, numpy: no
    compilation needed); returns ``(x = [va; vm], J(x)^-1, branch current magnitude pu,
    float32 mismatch floor pu)``."""
    n, sn = network.n_bus, network.sn_mva
    yff, yft, ytf, ytt = network.two_port()
    f, t = network.br_from, network.br_to
    y = np.diag(network.shunt_y.astype(complex))
    for rows, cols, vals in ((f, f, yff), (f, t, yft), (t, f, ytf), (t, t, ytt)):
        np.add.at(y, (rows, cols), vals)
    p, q = network.bus_injection_mw()
    s_spec = (p + 1j * q) / sn
    kind = network.bus_type()
    active = np.concatenate([kind != 2, kind == 0])
    va = _shift_angles(network)
    vm = network.vm_setpoint()
    for _ in range(30):
        v = vm * np.exp(1j * va)
        mis = v * np.conj(y @ v) - s_spec
        fvec = np.where(active, np.concatenate([mis.real, mis.imag]), 0.0)
        if np.max(np.abs(fvec)) < 1e-10:
            break
        dx = np.linalg.solve(_masked_jacobian(y, v, active), fvec)
        va, vm = va - dx[:n], vm - dx[n:]
    else:
        raise ValueError(f"{network.name}: the base-case AC power flow does not converge")
    v = vm * np.exp(1j * va)
    jinv = np.linalg.inv(_masked_jacobian(y, v, active))
    i_f = np.abs(yff * v[f] + yft * v[t])
    i_t = np.abs(ytf * v[f] + ytt * v[t])
    # float32 round-off floor of the mismatch at the solution (what the env's solver can reach)
    x32 = np.concatenate([va, vm]).astype(np.float32)
    v32 = (x32[n:] * np.exp(1j * x32[:n])).astype(np.complex64)
    mis32 = v32 * np.conj(y.astype(np.complex64) @ v32) - s_spec.astype(np.complex64)
    floor = float(np.max(np.abs(np.where(active, np.concatenate([mis32.real, mis32.imag]), 0.0))))
    return np.concatenate([va, vm]), jinv, np.maximum(i_f, i_t), floor


def _pick_buses(network: Network, ids, count: int, skip: set[int]) -> list[int]:
    if ids is not None:
        known = set(network.net_bus_ids.tolist() or network.bus_ids.tolist())
        missing = [b for b in ids if int(b) not in known]
        if missing:
            raise ValueError(f"bus {missing} not in the network")
        return [network.row_of(int(b)) for b in ids]
    load = np.zeros(network.n_bus)
    np.add.at(load, network.load_bus, network.load_p_mw)
    order = [int(i) for i in np.argsort(-load, kind="stable")
             if int(i) != network.slack_bus and int(i) not in skip]
    return order[:count]


def _bridges_free_line(network: Network, current_pu: np.ndarray) -> int:
    """Most loaded in-service branch whose outage leaves every bus connected (n-1 scenario)."""
    order = np.argsort(-current_pu, kind="stable")
    for k in order:
        if not network.br_in_service[k]:
            continue
        on = network.br_in_service.copy()
        on[k] = False
        if _connected(network.n_bus, network.br_from[on], network.br_to[on], network.slack_bus):
            return int(k)
    return 0


def _connected(n: int, f: np.ndarray, t: np.ndarray, root: int) -> bool:
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(f, t, strict=True):
        adj[a].append(b)
        adj[b].append(a)
    seen = {root}
    stack = [root]
    while stack:
        for nb in adj[stack.pop()]:
            if nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return len(seen) == n


def _layout(network: Network) -> np.ndarray:
    xy = network.bus_xy
    if np.all(np.isfinite(xy)):
        return xy
    import networkx as nx
    g = nx.Graph()
    g.add_nodes_from(range(network.n_bus))
    g.add_edges_from(zip(network.br_from.tolist(), network.br_to.tolist(), strict=True))
    pos = nx.spring_layout(g, seed=0)
    return np.array([pos[i] for i in range(network.n_bus)])


def build_params(network: Network, case: str = "", **options: Any) -> PowerGridParams:
    """PowerGridParams for ``network`` with the documented rules; ``options`` from ``BUILD_OPTIONS``."""
    unknown = sorted(set(options) - set(BUILD_OPTIONS))
    if unknown:
        raise ValueError(f"unknown build option(s) {unknown}; valid: {sorted(BUILD_OPTIONS)}")
    o = {**BUILD_OPTIONS, **options}
    if o["ratings"] not in RATING_RULES:
        raise ValueError(f"ratings must be one of {RATING_RULES}, got {o['ratings']!r}")
    x_ref, jinv, current, mismatch_floor = _base_solution(network)
    sn = network.sn_mva
    n = network.n_bus

    # ratings
    case_rating = network.br_rating_mva / sn
    rule = current / o["rating_base_loading"]
    floor = o["rating_floor_share"] * float(np.median(rule[rule > 0])) if np.any(rule > 0) else 1.0
    rule = np.maximum(rule, floor)
    rating = np.where(np.isfinite(case_rating), case_rating, rule)

    load_p = np.zeros(n)
    load_q = np.zeros(n)
    np.add.at(load_p, network.load_bus, network.load_p_mw)
    np.add.at(load_q, network.load_bus, network.load_q_mvar)
    total_load = float(load_p.sum())

    wind = _pick_buses(network, o["wind_buses"], o["n_wind"], set())
    solar = _pick_buses(network, o["solar_buses"], o["n_solar"], set(wind))
    ren_bus = np.array(wind + solar, dtype=np.int32)
    ren_cap = np.array([o["wind_share"] * total_load / max(len(wind), 1)] * len(wind)
                       + [o["solar_share"] * total_load / max(len(solar), 1)] * len(solar))
    ren_is_wind = np.array([True] * len(wind) + [False] * len(solar))
    if o["battery_buses"] is not None:
        bat = _pick_buses(network, o["battery_buses"], 0, set())
    else:
        bat = (list(ren_bus) + _pick_buses(network, None, o["n_battery"], set()))[:o["n_battery"]]
    bat_bus = np.array(bat, dtype=np.int32)
    nbat = len(bat_bus)
    bat_p = np.full(nbat, o["battery_power_share"] * total_load)

    # static generation in the case (sgens) is kept as fixed injection folded into the loads
    load_p_net = load_p.copy()
    load_q_net = load_q.copy()
    np.add.at(load_p_net, network.sgen_bus, -network.sgen_p_mw)
    np.add.at(load_q_net, network.sgen_bus, -network.sgen_q_mvar)

    gen_pmax = np.where(np.isfinite(network.gen_max_p_mw), network.gen_max_p_mw,
                        np.maximum(network.gen_p_mw * 2, 1.0))
    gen_pmin = np.minimum(network.gen_min_p_mw, gen_pmax)
    slack_pmax = network.slack_max_p_mw if np.isfinite(network.slack_max_p_mw) else 2 * total_load
    slack_pmin = network.slack_min_p_mw if np.isfinite(network.slack_min_p_mw) else -total_load
    # normaliser: the cost of serving the nominal load for one step at the mean linear price
    prices = np.concatenate([network.gen_cost[:, 0], network.slack_cost[:1]])
    price_ref = max(float(np.mean(prices[prices > 0])) if np.any(prices > 0) else 30.0, 1.0)
    dt_h = 0.25
    p_bound = 2.0 * (total_load + float(gen_pmax.sum()) + float(ren_cap.sum()) + float(bat_p.sum()))

    f32 = lambda v: jnp.asarray(v, F32)  # noqa: E731
    L, _G, R = network.n_branch, network.n_gen, len(ren_bus)
    obs_low = np.concatenate([np.zeros(2 * L), -p_bound * np.ones(n),
                              np.minimum(gen_pmin, 0.0) * 1.5, np.minimum(gen_pmin, 0.0) * 1.5,
                              [-p_bound], np.zeros(nbat),
                              np.zeros(2 * R), np.zeros(2), -np.ones(2)])
    obs_high = np.concatenate([5 * np.ones(L), np.ones(L), p_bound * np.ones(n), gen_pmax * 1.5 + 1,
                               gen_pmax * 1.5 + 1,
                               [p_bound], np.ones(nbat), 1.5 * ren_cap, 1.5 * ren_cap,
                               p_bound * np.ones(2), np.ones(2)])
    ramp = np.maximum(o["ramp_share"] * gen_pmax, 1.0)
    act_low = np.concatenate([-ramp, -bat_p, -np.ones(R)])
    act_high = np.concatenate([ramp, bat_p, np.ones(R)])
    as_tuple = lambda v: tuple(float(x) for x in np.asarray(v, np.float32))  # noqa: E731
    return PowerGridParams(
        br_f=jnp.asarray(network.br_from, jnp.int32), br_t=jnp.asarray(network.br_to, jnp.int32),
        br_r=f32(network.br_r), br_x=f32(network.br_x), br_g=f32(network.br_g),
        br_b=f32(network.br_b), br_g_asym=f32(network.br_g_asym), br_b_asym=f32(network.br_b_asym),
        br_tap=f32(network.br_tap), br_shift=f32(np.deg2rad(network.br_shift_deg)),
        br_status0=f32(network.br_in_service), rating_pu=f32(rating),
        shunt_g=f32(network.shunt_y.real), shunt_b=f32(network.shunt_y.imag),
        vm_set=f32(network.vm_setpoint()), va_slack=f32(np.deg2rad(network.slack_va_deg)),
        is_slack=jnp.asarray(network.bus_type() == 2), is_pv=jnp.asarray(network.bus_type() == 1),
        x_ref=f32(x_ref), jinv=f32(jinv),
        load_p=f32(load_p_net), load_q=f32(load_q_net),
        gen_bus=jnp.asarray(network.gen_bus, jnp.int32), gen_pmin=f32(gen_pmin),
        gen_pmax=f32(gen_pmax), gen_ramp=f32(ramp),
        gen_cost=f32(network.gen_cost.reshape(-1, 2)),
        slack_pmin=f32(slack_pmin), slack_pmax=f32(slack_pmax), slack_cost=f32(network.slack_cost),
        ren_bus=jnp.asarray(ren_bus, jnp.int32), ren_cap=f32(ren_cap),
        ren_is_wind=jnp.asarray(ren_is_wind),
        bat_bus=jnp.asarray(bat_bus, jnp.int32), bat_p_max=f32(bat_p),
        bat_e_max=f32(bat_p * o["battery_hours"]), bat_eff=f32(np.full(nbat, o["battery_efficiency"])),
        load_noise_std=f32(0.03), obs_noise_std=f32(0.01), obs_noise_scale=f32(1.0),
        load_scale=f32(1.0), renewable_scale=f32(1.0), impedance_scale=f32(1.0),
        n1_outage=f32(0.0), n1_line=jnp.asarray(_bridges_free_line(network, current), jnp.int32),
        wind_cf_std=f32(0.25), rating_scale=f32(1.0), overload_price=f32(0.0), foresight=f32(0.0),
        trip_hard=f32(1.5), curtail_cost=f32(2.0 * price_ref), battery_wear=f32(5.0),
        voll=f32(1000.0), blackout_hours=f32(1.0),
        reward_scale=f32(price_ref * total_load * dt_h), stored_energy_price=f32(price_ref),
        reward_reference=f32(1.0), p_bound=f32(p_bound),
        bus_xy=f32(_layout(network)),
        sn_mva=float(sn), dt_h=dt_h, case=case or network.name, tol=max(1e-5, 3.0 * mismatch_floor),
        obs_low=as_tuple(obs_low), obs_high=as_tuple(obs_high), act_low=as_tuple(act_low),
        act_high=as_tuple(act_high), gen_span=as_tuple(gen_pmax - gen_pmin),
    )
