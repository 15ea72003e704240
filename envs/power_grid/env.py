"""PowerGrid-v0: operate a transmission grid through a day of load, wind and sun.

Every step (15 minutes, 96 steps = one day by default) the agent redispatches the controllable
generators, charges or discharges grid batteries and curtails renewables; then an AC power flow
(Newton-Raphson in JAX, float32, warm-started from the previous step) gives line loadings, and
protection trips overloaded lines. The external grid (slack) balances whatever is left.

Action (float32, shape ``(G + B + R,)``, physical units; ``G`` generators of ``net.gen``, ``B``
batteries, ``R`` renewable units):

* ``[0:G]``      redispatch of each generator, MW. ``gen_mode="schedule"`` (default): deviation
                 from the market schedule (the merit-order economic dispatch of the exact
                 next-step forecast, see :func:`_schedule`), in ``[-(max_p - min_p), +(max_p -
                 min_p)]``; the set point moves towards ``schedule + a`` by at most one ramp per
                 step. ``gen_mode="ramp"``: change of the previous set point, in ``[-ramp,
                 +ramp]``. Either way it is then clipped to ``[min_p_mw, max_p_mw]``.
* ``[G:G+B]``    battery power, MW, in ``[-p_max, +p_max]``; positive discharges into the grid.
                 Limited by the state of charge (energy limits) with one-way efficiency ``eff``.
* ``[G+B:]``     curtailment of each renewable unit's available power, in ``[-1, 1]``: the
                 curtailed fraction is ``max(a, 0)`` (mid-range means no curtailment).

Observation (float32, shape ``(2L + n + 2G + 1 + B + 2R + 4,)``, ``L`` branches = lines then
trafos, ``n`` buses), measured values carry relative Gaussian sensor noise ``obs_noise_std *
obs_noise_scale``:

* ``[0:L]``            branch loading, fraction of rating (current based), clipped to [0, 5]
* ``[L:2L]``           branch in service (1) or tripped / out (0)
* next ``n``           net active injection per bus, MW (generation - load)
* next ``G``           generator active power, MW
* next ``G``           market schedule of each generator for the next step, MW (exact)
* next ``1``           external grid (slack) active power, MW
* next ``B``           battery state of charge, fraction [0, 1]
* next ``R``           renewable available power now, MW
* next ``R``           renewable available power forecast for the next step, MW
* next ``2``           total load now and forecast for the next step, MW
* last ``2``           time of day as (sin, cos) of 2 pi h / 24

Protection: a branch above 100% for ``overload_steps`` consecutive steps trips, above
``trip_hard`` (150%) it trips at once; it reconnects after ``cooldown_steps``. Trips change the
topology of the *next* power flow, so cascades unfold step by step. A power flow that does not
converge or a load left without connection to the slack is a blackout: the episode terminates and
the reward carries ``voll * total_load * blackout_hours`` of unserved energy.

Reward: ``-(generation cost + curtailment cost + battery wear + unserved energy * VoLL
+ overload_price * overload MVAh - stored_energy_price * change of stored energy
- reward_reference * reference cost) / reward_scale`` with ``reward_scale`` the cost of serving the nominal load for one step at the
mean generator price. Stored battery energy is valued (the episode's terminal value, spread over
the steps), so energy held at reset is not free. The reference cost (economic dispatch cost of the
step's actual net load, network ignored) depends only on exogenous inputs: it shifts every
policy's return on a scenario by the same amount and removes the load-driven variance; the
return is the day's excess cost over it. ``overload_price`` ($/MVAh, 0 by default) prices the
apparent power above the ratings (``rating_pu * rating_scale``) of the branches in service.

Forecasts: the next step's load and renewable latents are drawn one step ahead (held in the
state); the published forecast (observation and market schedule) is their conditional mean
given the current latents, or, with ``foresight`` = 1, the realised next step itself (the
perfect-foresight oracle's twin: the realised day is the same on the same keys). ``info["cost"]``: total overload,
sum over branches of ``max(loading - 1, 0)``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs import spaces
from twingym.envs.core import Baseline, Label, TwinEnv, replace_fields
from twingym.envs.power_grid import powerflow, profiles, ybus
from twingym.envs.power_grid.params import BUILD_OPTIONS, build_params
from twingym.envs.power_grid.types import PowerGridParams, PowerGridState

CASES = ("case14", "case30", "case118")
#: losses assumed by the market schedule and the reward reference (forecast load x 1.02)
LOSS_FACTOR = 1.02
#: branch outages folded into the shared chord factorisation as a low-rank change (per copy)
TOPOLOGY_RANK = 2



# ---------------------------------------------------------------------------------------------------
def _hour(t, params: PowerGridParams):
    return jnp.mod(t.astype(jnp.float32) * params.dt_h, 24.0)


def _loads(t, level, e_load, params: PowerGridParams):
    factor = level * params.load_scale * profiles.load_shape(_hour(t, params))
    factor = factor * (1.0 + params.load_noise_std * e_load)
    return params.load_p * factor, params.load_q * factor


def _ren_available(t, z, params: PowerGridParams):
    cf = profiles.renewable_cf(_hour(t, params), z, params.ren_is_wind, params.wind_cf_std)
    return params.ren_cap * cf * params.renewable_scale


def _forecast_latents(state: PowerGridState, params: PowerGridParams):
    """Latents ``(e_load, z_ren)`` behind the published next-step forecast: their conditional
    means given the current latents (``AR_RHO *``), or, with ``params.foresight`` = 1, the next
    step's realised latents (drawn one step ahead and held in the state; the perfect-foresight
    oracle's view). The realised trajectory never depends on ``foresight``."""
    w = params.foresight
    e_load = w * state.e_load_next + (1.0 - w) * profiles.AR_RHO * state.e_load
    z_ren = w * state.z_ren_next + (1.0 - w) * profiles.AR_RHO * state.z_ren
    return e_load, z_ren


def merit_order(target, pmin, pmax, cost):
    """Economic dispatch of ``target`` MW: equal incremental cost (the merit order of marginal
    costs, with quadratic costs taken into account).

    ``cost`` is ``(U, 2)`` linear ($/MWh) and quadratic ($/MW^2h) coefficients. Each unit runs at
    ``clip((lam - c1) / (2 c2), pmin, pmax)``. The fleet's total is piecewise linear in the price
    ``lam`` with breakpoints where a unit reaches a limit; the price is found exactly (no
    iteration) by evaluating the total at all ``2U`` breakpoints and interpolating linearly
    between the two that bracket ``target`` (clipped to the fleet's range). Quadratic terms are
    floored at 1e-3 $/MW^2h so linear-cost units fill in merit order. Returns ``(U,)`` MW within
    limits.
    """
    c1 = cost[:, 0]
    c2 = jnp.maximum(cost[:, 1], 1e-3)
    target = jnp.clip(target, powerflow.exact_sum(pmin), powerflow.exact_sum(pmax))

    def output(lam):
        return jnp.clip((lam[..., None] - c1) / (2 * c2), pmin, pmax)

    knots = jnp.concatenate([c1 + 2 * c2 * pmin, c1 + 2 * c2 * pmax])      # (2U,) $/MWh
    total = powerflow.exact_sum(output(knots))                               # (2U,) MW
    below, above = total <= target, total >= target
    lo = jnp.max(jnp.where(below, knots, -jnp.inf))
    hi = jnp.min(jnp.where(above, knots, jnp.inf))
    t_lo = jnp.max(jnp.where(below, total, -jnp.inf))
    t_hi = jnp.min(jnp.where(above, total, jnp.inf))
    gap = t_hi - t_lo
    lam = jnp.where(gap > 0, lo + (target - t_lo) * (hi - lo) / jnp.where(gap > 0, gap, 1.0), lo)
    return output(lam)


def _units(params: PowerGridParams):
    """Limits and costs of the generators followed by the external grid (slack) as one unit."""
    pmin = jnp.concatenate([params.gen_pmin, params.slack_pmin[None]])
    pmax = jnp.concatenate([params.gen_pmax, params.slack_pmax[None]])
    cost = jnp.concatenate([params.gen_cost, params.slack_cost[None]])
    return pmin, pmax, cost


def _schedule(t_next, level, e_load_fc, z_ren_fc, params: PowerGridParams):
    """(G,) MW market schedule for step ``t_next``: economic dispatch (:func:`merit_order`) of the
    next step's forecast net load (forecast load with 2% losses minus forecast renewables) over
    the generators and the external grid. ``e_load_fc`` and ``z_ren_fc`` are the forecast latents
    (:func:`_forecast_latents`; exact forecasts, no sensor noise)."""
    load_fc, _ = _loads(t_next, level, e_load_fc, params)
    ren_fc = _ren_available(t_next, z_ren_fc, params)
    net = LOSS_FACTOR * powerflow.exact_sum(load_fc) - powerflow.exact_sum(ren_fc)
    return merit_order(net, *_units(params))[:-1]


def _reference_dollars(load_p, avail, params: PowerGridParams):
    """$ per hour of serving the step's actual net load (load with 2% losses minus available
    renewables) at the economic dispatch, network and ramps ignored. Depends on exogenous inputs
    only, never on actions."""
    net = LOSS_FACTOR * powerflow.exact_sum(load_p) - powerflow.exact_sum(avail)
    pmin, pmax, cost = _units(params)
    p = merit_order(net, pmin, pmax, cost)
    lin = cost[:, 0] * jnp.where(jnp.arange(p.shape[0]) == p.shape[0] - 1, jnp.maximum(p, 0.0), p)
    return powerflow.exact_sum(lin + cost[:, 1] * p ** 2)


def _reachable(params: PowerGridParams, status):
    """(n,) bool: buses connected to the slack through in-service branches."""
    n = params.load_p.shape[0]
    adj = jnp.zeros((n, n), jnp.float32)
    adj = adj.at[params.br_f, params.br_t].max(status).at[params.br_t, params.br_f].max(status)
    start = params.is_slack.astype(jnp.float32)

    def cond(c):
        reach, prev = c
        return jnp.any(reach != prev)

    def body(c):
        reach, _ = c
        return jnp.maximum(reach, jnp.minimum(adj @ reach, 1.0)), reach

    reach, _ = jax.lax.while_loop(cond, body, body((start, start)))
    return reach > 0.5


def _flow(params: PowerGridParams, status, p_mw, q_mvar, x_prev, max_chord: int, max_newton: int):
    """AC power flow for one copy. Returns a dict of loading, converged, x, p_slack, reach; a
    flow that does not converge reports zero loadings (it is a blackout)."""
    n = params.load_p.shape[0]
    reach = _reachable(params, status)
    fixed = params.is_slack | ~reach
    r, x_br = params.br_r * params.impedance_scale, params.br_x * params.impedance_scale
    shunt = params.shunt_g + 1j * params.shunt_b
    br = ybus.branch_admittance(r, x_br, params.br_g, params.br_b, params.br_g_asym,
                                params.br_b_asym, params.br_tap, params.br_shift, status)
    bd = ybus.branch_data(params.br_f, params.br_t, r, x_br, params.br_g, params.br_b,
                          params.br_g_asym, params.br_b_asym, params.br_tap, params.br_shift,
                          status, shunt)
    y = ybus.make_ybus(n, params.br_f, params.br_t, br, shunt)
    p_pu = jnp.where(reach, p_mw / params.sn_mva, 0.0)
    q_pu = jnp.where(reach, q_mvar / params.sn_mva, 0.0)
    prob = powerflow.PFProblem(ymat=powerflow.ybus_to_real(y), p_spec=p_pu, q_spec=q_pu,
                               vm_set=params.vm_set, va_slack=params.va_slack, is_slack=fixed,
                               is_pv=params.is_pv & reach)
    va0 = jnp.where(fixed, params.va_slack, x_prev[:n])
    vm0 = jnp.where(fixed | params.is_pv, jnp.where(reach, params.vm_set, 1.0), x_prev[n:])
    change = _topology_change(params, status, reach, r, x_br)
    res = powerflow.solve_ac(prob, jnp.concatenate([va0, vm0]), params.jinv,
                             max_chord=max_chord, max_newton=max_newton, tol=params.tol,
                             fixed_chord=params.fixed_chord, polish=1, exact=True, branches=bd,
                             change=change)
    ok = res.converged
    x = jnp.where(ok, jnp.concatenate([res.va, res.vm]), params.x_ref)
    return dict(converged=ok, x=x, reach=reach, **_flow_outputs(params, status, bd, x, p_mw, ok))


def _topology_change(params: PowerGridParams, status, reach, r, x_br) -> powerflow.LowRank:
    """The shared chord matrix ``params.jinv`` (base topology) updated for this copy's branch
    outages: the first ``TOPOLOGY_RANK`` branches whose status differs from the base enter as a
    low-rank change (:func:`powerflow.topology_change`), so a trip costs no refactorisation.
    Copies with more changed branches (or islands) still converge, through Newton."""
    diff = status - params.br_status0
    sel = jnp.nonzero(diff != 0, size=TOPOLOGY_RANK, fill_value=0)[0]
    weight = jnp.where(jnp.arange(TOPOLOGY_RANK) < jnp.sum(diff != 0), diff[sel], 0.0)
    br = ybus.branch_admittance(r[sel], x_br[sel], params.br_g[sel], params.br_b[sel],
                                params.br_g_asym[sel], params.br_b_asym[sel], params.br_tap[sel],
                                params.br_shift[sel], jnp.ones_like(weight))
    active = jnp.concatenate([~params.is_slack, ~(params.is_slack | params.is_pv)])
    released = active & ~jnp.concatenate([reach, reach])
    return powerflow.topology_change(params.jinv, params.x_ref, active, params.br_f[sel],
                                     params.br_t[sel], br, weight, released, exact=True)


def _flow_outputs(params: PowerGridParams, status, bd, x, p_mw, ok):
    """Loading (fraction of rating) and slack power (MW) at solution ``x``."""
    n = params.load_p.shape[0]
    sf, st = ybus.accurate_branch_flows(x[:n], x[n:], bd)
    cur = jnp.maximum(jnp.abs(sf) / x[n:][params.br_f], jnp.abs(st) / x[n:][params.br_t])
    loading = jnp.where(ok & (status > 0), cur / (params.rating_pu * params.rating_scale), 0.0)
    p_calc = ybus.accurate_injection(x[:n], x[n:], bd)[:n] * params.sn_mva
    p_slack = powerflow.exact_sum(jnp.where(params.is_slack, p_calc - p_mw, 0.0))
    return dict(loading=jnp.nan_to_num(loading), p_slack=jnp.where(ok, jnp.nan_to_num(p_slack), 0.0))


def _linear_flow(params: PowerGridParams, status, p_mw, q_mvar):
    """First-observation flow: one chord step from the case's base solution (no loops; the
    reset runs inside every step for auto-reset, so it must be cheap). The base topology (and
    the n-1 scenario's) keeps every bus connected, so no islanding check is needed here."""
    n = params.load_p.shape[0]
    r, x_br = params.br_r * params.impedance_scale, params.br_x * params.impedance_scale
    bd = ybus.branch_data(params.br_f, params.br_t, r, x_br, params.br_g, params.br_b,
                          params.br_g_asym, params.br_b_asym, params.br_tap, params.br_shift,
                          status, params.shunt_g + 1j * params.shunt_b)
    f = ybus.accurate_injection(params.x_ref[:n], params.x_ref[n:], bd) - jnp.concatenate(
        [p_mw, q_mvar]) / params.sn_mva
    active = jnp.concatenate([~params.is_slack, ~(params.is_slack | params.is_pv)])
    x = params.x_ref - powerflow.matvec(params.jinv, jnp.where(active, f, 0.0), exact=True)
    x = jnp.where(jnp.isfinite(x), x, params.x_ref)
    return dict(x=x, **_flow_outputs(params, status, bd, x, p_mw, jnp.bool_(True)))


def _bus_injection(params: PowerGridParams, p_gen, ren_out, p_bat, load_p):
    n = params.load_p.shape[0]
    p = jnp.zeros(n, jnp.float32).at[params.gen_bus].add(p_gen)
    p = p.at[params.ren_bus].add(ren_out).at[params.bat_bus].add(p_bat)
    return p - load_p


def _initial_status(params: PowerGridParams):
    n1 = (jnp.arange(params.br_status0.shape[0]) == params.n1_line) & (params.n1_outage > 0.5)
    return jnp.where(n1, 0.0, params.br_status0)


# ---------------------------------------------------------------------------------------------------
class PowerGrid(TwinEnv[PowerGridState, PowerGridParams]):
    __doc__ = __doc__
    reference_baseline = "merit_order"
    # the gathered Newton/chord loop (compact.compacted_while) deadlocked XLA's CPU backend with the
    # batch split over two host devices (the second step never returned): one device per batch
    batch_shardable = False

    def batch_parity_atol(self, params: PowerGridParams) -> float:
        """The AC flow's acceptance tolerance in MW (``tol * sn_mva``: 1e-3 MW on case14, 2.2e-3
        on case30). The flow is accepted at any iterate whose power mismatch is below ``tol``, so
        its outputs in MW (slack power, and the loadings, fractions of ratings of 16 MVA and up)
        are determined to about that: a batched and a single step, compiled with other float32
        rounding, stop at different iterates inside it (up to 4e-4 MW of slack power seen)."""
        return max(1e-5, float(params.tol) * float(params.sn_mva))

    # ---- params ---------------------------------------------------------------------------------
    def default_params(self) -> PowerGridParams:
        return self.make_params()

    def make_params(self, case: str = "case14", net: Any = None, check: bool = True,
                    **overrides: Any) -> PowerGridParams:
        """Params for a bundled ``case`` (``case14`` default, ``case30``, ``case118``, or any
        ``pandapower.networks`` function name) or any pandapower ``net``; ``overrides`` are
        :data:`~twingym.envs.power_grid.params.BUILD_OPTIONS` keys (renewable/battery layout,
        rating rule) or PowerGridParams fields. With ``net`` and ``check``, one do-nothing episode of
        the default scenario runs first and an ``ImportedNetWarning`` names what trips, overloads
        or blacks out, with the fixes (``import_check``)."""
        from twingym.envs.power_grid import import_check

        build = {k: v for k, v in overrides.items() if k in BUILD_OPTIONS}
        rest = {k: v for k, v in overrides.items() if k not in BUILD_OPTIONS}
        what = f"{self.id or 'PowerGrid'} parameter"
        if net is None:
            key = tuple(sorted((k, tuple(v) if isinstance(v, list | tuple | np.ndarray) else v)
                               for k, v in build.items()))
            params = replace_fields(_cached_case_params(case, key), rest, what=what)
        else:
            from twingym.envs.power_grid.network import from_pandapower
            network = from_pandapower(net)
            params = replace_fields(build_params(network, case=str(getattr(net, "name", "") or "net"),
                                                 **build), rest, what=what)
        if build.get("ratings") == "derived":
            o = {**BUILD_OPTIONS, **build}
            params = import_check.derive_ratings(self, params, o["rating_base_loading"],
                                                 o["rating_floor_share"])
        if net is not None and check:
            import_check.warn_if_failing(self, params, network)
        return params

    # ---- sizes ------------------------------------------------------------------------------------
    @staticmethod
    def _sizes(params: PowerGridParams) -> tuple[int, int, int, int, int]:
        return (params.br_f.shape[0], params.load_p.shape[0], params.gen_bus.shape[0],
                params.bat_bus.shape[0], params.ren_bus.shape[0])

    # ---- observation --------------------------------------------------------------------------------
    def _obs(self, key, state: PowerGridState, params: PowerGridParams) -> jax.Array:
        t = state.time
        load_now, _ = _loads(t, state.level, state.e_load, params)
        e_fc, z_fc = _forecast_latents(state, params)
        load_fc, _ = _loads(t + 1, state.level, e_fc, params)
        ren_now = _ren_available(t, state.z_ren, params)
        ren_fc = _ren_available(t + 1, z_fc, params)
        hour = _hour(t, params)
        ang = 2 * jnp.pi * hour / 24.0
        measured = jnp.concatenate([
            state.loading, state.status, state.p_bus, state.p_gen, state.schedule,
            state.p_slack[None], state.soc,
            ren_now, ren_fc, powerflow.exact_sum(load_now)[None],
            powerflow.exact_sum(load_fc)[None],
            jnp.stack([jnp.sin(ang), jnp.cos(ang)])]).astype(jnp.float32)
        noisy = self._noise_mask(params)
        std = params.obs_noise_std * params.obs_noise_scale
        eps = jax.random.normal(key, measured.shape, jnp.float32)
        obs = jnp.where(noisy, measured * (1.0 + std * eps), measured)
        low, high = self._obs_bounds(params)
        return jnp.clip(jnp.nan_to_num(obs), low, high)

    def _noise_mask(self, params: PowerGridParams) -> np.ndarray:
        L, n, G, B, R = self._sizes(params)
        mask = np.ones(2 * L + n + 2 * G + 1 + B + 2 * R + 4, dtype=bool)
        mask[L:2 * L] = False                       # breaker status is exact
        mask[2 * L + n + G:2 * L + n + 2 * G] = False   # the published schedule is exact
        mask[2 * L + n + 2 * G + 1:2 * L + n + 2 * G + 1 + B] = False   # SoC from the battery controller
        mask[-2:] = False                           # clock
        return mask

    def _obs_bounds(self, params: PowerGridParams) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(params.obs_low, np.float32), np.asarray(params.obs_high, np.float32))

    def observation_space(self, params: PowerGridParams) -> spaces.Box:
        low, high = self._obs_bounds(params)
        return spaces.Box(low=low, high=high)

    def _act_bounds(self, params: PowerGridParams) -> tuple[np.ndarray, np.ndarray]:
        low = np.asarray(params.act_low, np.float32).copy()
        high = np.asarray(params.act_high, np.float32).copy()
        if params.gen_mode == "schedule":   # a deviation may be held: up to the unit's whole range
            span = np.asarray(params.gen_span, np.float32)
            low[:span.size], high[:span.size] = -span, span
        return low, high

    def action_space(self, params: PowerGridParams) -> spaces.Box:
        low, high = self._act_bounds(params)
        return spaces.Box(low=low, high=high)

    # ---- dynamics --------------------------------------------------------------------------------------
    def reset_env(self, key, params: PowerGridParams):
        L, n, _G, B, R = self._sizes(params)
        k_lvl, k_ren, k_load, k_obs, k_next = jax.random.split(key, 5)
        level = jax.random.uniform(k_lvl, (), jnp.float32, 0.9, 1.05)
        z_ren = jax.random.normal(k_ren, (R,), jnp.float32)
        e_load = jax.random.normal(k_load, (n,), jnp.float32)
        k_ren_next, k_load_next = jax.random.split(k_next)
        z_ren_next = profiles.ar1_step(k_ren_next, z_ren)
        e_load_next = profiles.ar1_step(k_load_next, e_load)
        t = jnp.int32(0)
        load_p, load_q = _loads(t, level, e_load, params)
        ren = _ren_available(t, z_ren, params)
        p_gen = self._dispatch(powerflow.exact_sum(load_p) - powerflow.exact_sum(ren), params)
        soc = jnp.full((B,), 0.5, jnp.float32)
        status = _initial_status(params)
        p_bus = _bus_injection(params, p_gen, ren, jnp.zeros(B), load_p)
        flow = _linear_flow(params, status, p_bus, -load_q)
        state = PowerGridState(
            time=t, p_gen=p_gen, soc=soc, z_ren=z_ren, e_load=e_load, z_ren_next=z_ren_next,
            e_load_next=e_load_next, level=level, status=status,
            over_count=jnp.zeros(L, jnp.int32), cooldown=jnp.zeros(L, jnp.int32),
            x=flow["x"], loading=jnp.where(status > 0, flow["loading"], 0.0),
            p_slack=flow["p_slack"], p_bus=p_bus, ren_out=ren, schedule=p_gen)
        state = state.replace(schedule=_schedule(t + 1, level, *_forecast_latents(state, params), params))
        return self._obs(k_obs, state, params), state

    @staticmethod
    def _dispatch(net_load, params: PowerGridParams):
        return merit_order(net_load, *_units(params))[:-1]

    def step_env(self, key, state: PowerGridState, action, params: PowerGridParams):
        _L, _n, G, B, _R = self._sizes(params)
        k_ren, k_load, k_obs = jax.random.split(key, 3)
        a_low, a_high = self._act_bounds(params)
        a = jnp.clip(jnp.nan_to_num(jnp.asarray(action, jnp.float32).reshape(-1)), a_low, a_high)
        t = state.time + 1
        z_ren, e_load = state.z_ren_next, state.e_load_next   # drawn one step ahead
        z_ren_next = profiles.ar1_step(k_ren, z_ren)
        e_load_next = profiles.ar1_step(k_load, e_load)
        load_p, load_q = _loads(t, state.level, e_load, params)
        avail = _ren_available(t, z_ren, params)

        # actions
        if params.gen_mode == "schedule":   # deviation from the market schedule, ramp-limited
            move = jnp.clip(state.schedule + a[:G] - state.p_gen, -params.gen_ramp, params.gen_ramp)
        elif params.gen_mode == "ramp":     # change of the previous set point
            move = a[:G]
        else:
            raise ValueError(f"gen_mode must be 'schedule' or 'ramp', not {params.gen_mode!r}")
        p_gen = jnp.clip(state.p_gen + move, params.gen_pmin, params.gen_pmax)
        e_max = jnp.maximum(params.bat_e_max, 1e-6)
        dis_max = state.soc * e_max * params.bat_eff / params.dt_h
        chg_max = (1.0 - state.soc) * e_max / (params.bat_eff * params.dt_h)
        p_bat = jnp.clip(a[G:G + B], -chg_max, dis_max)
        energy = jnp.where(p_bat > 0, p_bat / params.bat_eff, p_bat * params.bat_eff) * params.dt_h
        soc = jnp.clip(state.soc - energy / e_max, 0.0, 1.0)
        curtail = jnp.maximum(a[G + B:], 0.0)
        ren_out = avail * (1.0 - curtail)

        p_bus = _bus_injection(params, p_gen, ren_out, p_bat, load_p)
        flow = _flow(params, state.status, p_bus, -load_q, state.x, params.max_chord,
                     params.max_newton)
        loading = flow["loading"]
        islanded_load = jnp.any(~flow["reach"] & (load_p > 1e-6))
        blackout = ~flow["converged"] | islanded_load

        # protection
        on = state.status > 0
        over = on & (loading > 1.0)
        count = jnp.where(over, state.over_count + 1, 0)
        trip = on & ((loading > params.trip_hard) | (count >= params.overload_steps))
        cooldown = jnp.where(trip, params.cooldown_steps, jnp.maximum(state.cooldown - 1, 0))
        permanent = _initial_status(params) < 0.5
        reconnect = ~on & (cooldown == 0) & ~permanent
        status = jnp.where(trip, 0.0, jnp.where(reconnect, 1.0, state.status))
        count = jnp.where(trip, 0, count)

        # economics
        gen_cost = powerflow.exact_sum(params.gen_cost[:, 0] * p_gen + params.gen_cost[:, 1] * p_gen ** 2)
        ps = flow["p_slack"]
        slack_cost = params.slack_cost[0] * jnp.maximum(ps, 0.0) + params.slack_cost[1] * ps ** 2
        curtail_cost = params.curtail_cost * powerflow.exact_sum(avail * curtail)
        wear = params.battery_wear * powerflow.exact_sum(jnp.abs(p_bat))
        unserved = jnp.where(blackout, params.voll * powerflow.exact_sum(load_p) * params.blackout_hours, 0.0)
        dollars = (gen_cost + slack_cost + curtail_cost + wear) * params.dt_h + unserved
        stored = params.stored_energy_price * powerflow.exact_sum((soc - state.soc) * params.bat_e_max)
        reference = params.reward_reference * _reference_dollars(load_p, avail, params) * params.dt_h
        overload = powerflow.exact_sum(jnp.where(on, jnp.maximum(loading - 1.0, 0.0), 0.0))
        # apparent power above the ratings of lines in service (MVA at 1 pu voltage)
        overload_mva = powerflow.exact_sum(jnp.where(on, jnp.maximum(loading - 1.0, 0.0) * params.rating_pu
                                                     * params.rating_scale, 0.0)) * params.sn_mva
        overload_dollars = params.overload_price * overload_mva * params.dt_h
        reward = -(dollars + overload_dollars - stored - reference) / params.reward_scale

        new = PowerGridState(time=t, p_gen=p_gen, soc=soc, z_ren=z_ren, e_load=e_load,
                        z_ren_next=z_ren_next, e_load_next=e_load_next, level=state.level, status=status, over_count=count.astype(jnp.int32),
                        cooldown=cooldown.astype(jnp.int32), x=flow["x"], loading=loading,
                        p_slack=ps, p_bus=p_bus, ren_out=ren_out,
                        schedule=state.schedule)
        new = new.replace(schedule=_schedule(t + 1, state.level, *_forecast_latents(new, params), params))
        truncated = t >= params.max_steps
        info = {"cost": overload.astype(jnp.float32), "blackout": blackout,
                "converged": flow["converged"], "trips": powerflow.exact_sum(trip).astype(jnp.int32),
                "dollars": dollars, "stored_value": stored, "reference_dollars": reference,
                "curtailed_mw": powerflow.exact_sum(avail * curtail),
                "slack_mw": ps, "overload_mva": overload_mva, "overload_dollars": overload_dollars}
        return self._obs(k_obs, new, params), new, reward, blackout, truncated, info

    # ---- extras -------------------------------------------------------------------------------------------
    def observation_labels(self, params: PowerGridParams) -> list[Label]:
        L, n, G, B, R = self._sizes(params)
        out = [Label(f"line_{i}", "loading", "1") for i in range(L)]
        out += [Label(f"line_{i}", "in_service", "1") for i in range(L)]
        out += [Label(f"bus_{i}", "p_injection", "MW") for i in range(n)]
        out += [Label(f"gen_{i}", "p", "MW") for i in range(G)]
        out += [Label(f"gen_{i}", "schedule", "MW") for i in range(G)]
        out += [Label("grid", "slack_p", "MW")]
        out += [Label(f"battery_{i}", "soc", "1") for i in range(B)]
        out += [Label(f"renewable_{i}", "available", "MW") for i in range(R)]
        out += [Label(f"renewable_{i}", "forecast", "MW") for i in range(R)]
        out += [Label("grid", "load", "MW"), Label("grid", "load_forecast", "MW"),
                Label("grid", "time_sin", "1"), Label("grid", "time_cos", "1")]
        return out

    def action_labels(self, params: PowerGridParams) -> list[Label]:
        _, _, G, B, R = self._sizes(params)
        return ([Label(f"gen_{i}", "redispatch", "MW") for i in range(G)]
                + [Label(f"battery_{i}", "power", "MW") for i in range(B)]
                + [Label(f"renewable_{i}", "curtailment", "1") for i in range(R)])

    def baselines(self) -> dict[str, Baseline]:
        from twingym.envs.power_grid.baselines import make_baselines
        return make_baselines(self)

    def scenarios(self) -> dict[str, dict[str, Any]]:
        from twingym.envs.power_grid.scenarios import SCENARIOS
        return {k: dict(v) for k, v in SCENARIOS.items()}

    def schematic(self, params: PowerGridParams) -> dict[str, Any]:
        """One-line diagram: bus positions (drawing units), branches as (from, to) bus indices, the buses
        of generators, renewables (wind or solar) and batteries, and the slack bus flags."""
        ints = lambda a: np.asarray(a).astype(int).tolist()  # noqa: E731
        return {"kind": "power_grid", "case": str(params.case),
                "bus_xy": np.asarray(params.bus_xy, float).round(4).tolist(),
                "lines": [list(p) for p in zip(ints(params.br_f), ints(params.br_t), strict=True)],
                "gen_bus": ints(params.gen_bus), "ren_bus": ints(params.ren_bus),
                "ren_is_wind": np.asarray(params.ren_is_wind).astype(bool).tolist(),
                "bat_bus": ints(params.bat_bus), "slack": np.asarray(params.is_slack).astype(bool).tolist()}

    def render(self, state: PowerGridState, params: PowerGridParams) -> np.ndarray:
        from twingym.envs.power_grid.render import render_grid
        return render_grid(state, params)


@functools.lru_cache(maxsize=16)
def _cached_case_params(case: str, build_key: tuple) -> PowerGridParams:
    import pandapower.networks as pn
    from twingym.envs.power_grid.network import from_pandapower
    factory = getattr(pn, case, None)
    if factory is None or not callable(factory):
        raise ValueError(f"unknown case {case!r}; try one of {', '.join(CASES)} or pass net=")
    return build_params(from_pandapower(factory(), name=case), case=case, **dict(build_key))
