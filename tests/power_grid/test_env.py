"""PowerGrid-v0 behaviour: physics against pandapower, protection, blackout, storage, baselines."""

from __future__ import annotations

import logging
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
import pandapower.networks as pn  # noqa: E402
from twingym.envs.power_grid import env as grid_env  # noqa: E402
from twingym.envs.power_grid.baselines import obs_slices  # noqa: E402
from twingym.envs.power_grid.env import PowerGrid, merit_order  # noqa: E402

logging.getLogger("pandapower").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def setup():
    env = PowerGrid()
    params = env.make_params()
    step = jax.jit(env.step_env)
    reset = jax.jit(env.reset_env)
    return env, params, step, reset


def _zero(env, params):
    return jnp.zeros(env.action_space(params).shape, jnp.float32)


def _overload_most_loaded(params, state, overload: float):
    """``(k, params)`` with branch ``k`` (the most loaded) re-rated so it runs at ``overload`` x rating."""
    rating = np.asarray(params.rating_pu).copy()
    k = int(np.argmax(np.asarray(state.loading)))
    rating[k] = rating[k] * float(state.loading[k]) / overload
    return k, params.replace(rating_pu=jnp.asarray(rating))


def test_env_flow_matches_pandapower(setup):
    """The env's float32 flow on its own operating point equals pandapower's runpp."""
    env, params, step, reset = setup
    _, state = reset(jax.random.key(0), params)
    action = _zero(env, params).at[0].set(5.0).at[4].set(-3.0).at[5].set(0.5)
    _, new, *_ = step(jax.random.key(1), state, action, params)
    _load_p, load_q = grid_env._loads(new.time, new.level, new.e_load, params)
    p_gen = np.asarray(new.p_gen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pn.case14()
    net.load.drop(net.load.index, inplace=True)
    gen_at = np.zeros(14)
    np.add.at(gen_at, np.asarray(params.gen_bus), p_gen)
    p_other = np.asarray(new.p_bus) - gen_at          # renewables + battery - load, MW
    for bus in range(14):
        pp.create_load(net, bus, p_mw=float(-p_other[bus]), q_mvar=float(load_q[bus]))
    net.gen["p_mw"] = p_gen
    pp.runpp(net, tolerance_mva=1e-10)
    sn = params.sn_mva
    s_from = np.concatenate([np.hypot(net.res_line.p_from_mw, net.res_line.q_from_mvar)
                             / net.res_line.vm_from_pu,
                             np.hypot(net.res_trafo.p_hv_mw, net.res_trafo.q_hv_mvar)
                             / net.res_trafo.vm_hv_pu])
    s_to = np.concatenate([np.hypot(net.res_line.p_to_mw, net.res_line.q_to_mvar)
                           / net.res_line.vm_to_pu,
                           np.hypot(net.res_trafo.p_lv_mw, net.res_trafo.q_lv_mvar)
                           / net.res_trafo.vm_lv_pu])
    expected = np.maximum(s_from, s_to) / sn / np.asarray(params.rating_pu)
    np.testing.assert_allclose(np.asarray(new.loading), expected, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(float(new.p_slack), net.res_ext_grid.p_mw.iloc[0], atol=0.02)
    n = 14
    np.testing.assert_allclose(np.asarray(new.x[n:]), net.res_bus.vm_pu.values, atol=2e-5)


def test_hard_overload_trips_at_once_and_reconnects_after_cooldown(setup):
    env, params, step, reset = setup
    _obs, state = reset(jax.random.key(0), params)
    k, tight = _overload_most_loaded(params, state, 2.0)        # about 200% of the new rating
    _, state, _, term, _, info = step(jax.random.key(1), state, _zero(env, params), tight)
    assert not bool(term)
    assert float(state.status[k]) == 0.0 and int(info["trips"]) >= 1
    assert float(info["cost"]) > 0.5
    for i in range(params.cooldown_steps):
        assert float(state.status[k]) == 0.0, f"reconnected too early at step {i}"
        _, state, *_ = step(jax.random.key(2 + i), state, _zero(env, params), params)
    assert float(state.status[k]) == 1.0


def test_moderate_overload_trips_after_k_steps(setup):
    env, params, step, reset = setup
    _, state = reset(jax.random.key(0), params)
    k, tight = _overload_most_loaded(params, state, 1.2)        # about 120%
    for i in range(params.overload_steps):
        assert float(state.status[k]) == 1.0, f"tripped after {i} steps"
        _, state, *_ = step(jax.random.key(5 + i), state, _zero(env, params), tight)
    assert float(state.status[k]) == 0.0


def test_islanded_load_is_a_blackout(setup):
    env, params, step, reset = setup
    _, state = reset(jax.random.key(0), params)
    load = np.asarray(params.load_p)
    bus = int(np.argmax(np.where(np.asarray(params.is_slack), 0.0, load)))
    cut = (np.asarray(params.br_f) == bus) | (np.asarray(params.br_t) == bus)
    state = state.replace(status=jnp.where(jnp.asarray(cut), 0.0, state.status),
                          cooldown=jnp.where(jnp.asarray(cut), 5, state.cooldown))
    _, _, reward, term, _, info = step(jax.random.key(1), state, _zero(env, params), params)
    assert bool(term) and bool(info["blackout"])
    total = float(np.sum(np.asarray(grid_env._loads(jnp.int32(1), state.level, state.e_load,
                                                    params)[0])))
    expected = float(params.voll) * total * float(params.blackout_hours) / float(params.reward_scale)
    assert float(reward) < -0.9 * expected
    assert np.isfinite(float(reward)) and np.isfinite(float(info["cost"]))


def test_battery_and_curtailment_follow_their_limits(setup):
    env, params, step, reset = setup
    _, state = reset(jax.random.key(3), params)
    G = params.gen_bus.shape[0]
    p_max = float(params.bat_p_max[0])
    action = _zero(env, params).at[G].set(p_max).at[G + 1:].set(1.0)   # discharge, curtail all
    _, new, _, _, _, info = step(jax.random.key(4), state, action, params)
    e_max, eff, dt = float(params.bat_e_max[0]), float(params.bat_eff[0]), params.dt_h
    assert float(new.soc[0]) == pytest.approx(float(state.soc[0]) - p_max * dt / eff / e_max,
                                              rel=1e-5)
    assert np.all(np.asarray(new.ren_out) == 0.0)
    assert float(info["curtailed_mw"]) >= 0.0
    # an empty battery cannot discharge
    empty = new.replace(soc=jnp.zeros_like(new.soc))
    _, after, *_ = step(jax.random.key(5), empty, action, params)
    assert float(after.soc[0]) == 0.0


def test_merit_order_dispatch_is_economic():
    pmin = jnp.array([0.0, 10.0, 0.0])
    pmax = jnp.array([100.0, 80.0, 50.0])
    cost = jnp.array([[20.0, 0.05], [25.0, 0.02], [40.0, 0.0]])
    p = merit_order(jnp.float32(120.0), pmin, pmax, cost)
    assert float(jnp.sum(p)) == pytest.approx(120.0, abs=1e-3)
    assert np.all(np.asarray(p) >= np.asarray(pmin) - 1e-5)
    assert np.all(np.asarray(p) <= np.asarray(pmax) + 1e-5)
    marginal = np.asarray(cost[:, 0] + 2 * cost[:, 1] * p)
    assert marginal[0] == pytest.approx(marginal[1], abs=0.05)   # interior units share a price
    assert float(p[2]) == 0.0                                    # the dear unit stays off


def test_dc_opf_relieves_overload(setup):
    env, params, step, reset = setup
    _, state = reset(jax.random.key(0), params)
    obs, state, *_ = step(jax.random.key(1), state, _zero(env, params), params)
    # the most loaded branch out of the external grid: redispatch has leverage on it
    rating = np.asarray(params.rating_pu).copy()
    slack = int(np.argmax(np.asarray(params.is_slack)))
    near = [k for k in range(len(rating)) if slack in (int(params.br_f[k]), int(params.br_t[k]))]
    k = max(near, key=lambda j: float(state.loading[j]))
    rating[k] = rating[k] * float(state.loading[k]) / 1.05
    tight = params.replace(rating_pu=jnp.asarray(rating))
    opf = env.baselines()["dc_opf"]
    action, _ = opf.act(opf.init(tight), np.asarray(obs), tight)
    assert env.action_space(tight).contains(jnp.asarray(action))
    _, _, _, _, _, idle = step(jax.random.key(2), state, _zero(env, params), tight)
    _, _, _, _, _, fixed = step(jax.random.key(2), state, jnp.asarray(action), tight)
    assert float(idle["cost"]) > 0.02
    assert float(fixed["cost"]) < 0.5 * float(idle["cost"]), (k, idle["cost"], fixed["cost"])


def test_other_cases_by_parameter():
    env = PowerGrid()
    p30 = env.make_params(case="case30")
    obs, _ = env.reset(jax.random.key(0), p30)
    assert env.observation_space(p30).contains(obs)
    p118 = env.make_params(case="case118", n_wind=3, n_solar=2, n_battery=2)
    assert p118.load_p.shape == (118,) and p118.br_f.shape == (186,)
    assert env.action_space(p118).shape == (53 + 2 + 5,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pn.case9()
    p9 = env.make_params(net=net)
    assert p9.load_p.shape == (9,)
    with pytest.raises(ValueError, match="unknown case"):
        env.make_params(case="case_does_not_exist")


def test_schedule_mode_follows_the_merit_order_schedule(setup):
    """Zero redispatch lands on the market schedule (the economic dispatch of the exact forecast);
    a deviation moves the set point by that many MW; ramp mode keeps the old meaning."""
    env, params, step, reset = setup
    obs, state = reset(jax.random.key(7), params)
    G = params.gen_bus.shape[0]
    s = obs_slices(params)
    load_fc, _ = grid_env._loads(state.time + 1, state.level, 0.9 * state.e_load, params)
    ren_fc = grid_env._ren_available(state.time + 1, 0.9 * state.z_ren, params)
    pmin, pmax, cost = grid_env._units(params)
    expected = merit_order(1.02 * jnp.sum(load_fc) - jnp.sum(ren_fc), pmin, pmax, cost)[:G]
    np.testing.assert_allclose(np.asarray(state.schedule), np.asarray(expected), atol=1e-3)
    np.testing.assert_array_equal(np.asarray(obs[s["schedule"]]), np.asarray(state.schedule))
    _, zero, *_ = step(jax.random.key(8), state, _zero(env, params), params)
    within = np.abs(np.asarray(state.schedule - state.p_gen)) < np.asarray(params.gen_ramp)
    assert within.all()
    np.testing.assert_allclose(np.asarray(zero.p_gen), np.asarray(state.schedule), atol=1e-4)
    span = np.asarray(params.gen_pmax - params.gen_pmin)
    np.testing.assert_allclose(env.action_space(params).high_array[:G], span)   # holdable deviations
    _, moved, *_ = step(jax.random.key(8), state, _zero(env, params).at[0].set(2.0), params)
    assert float(moved.p_gen[0] - zero.p_gen[0]) == pytest.approx(2.0, abs=1e-4)
    # the reference baseline sends zero redispatch in schedule mode
    mo = env.baselines()["merit_order"]
    np.testing.assert_array_equal(np.asarray(mo.act(mo.init(params), obs, params)[0]), 0.0)
    ramp = params.replace(gen_mode="ramp")
    np.testing.assert_allclose(env.action_space(ramp).high_array[:G], np.asarray(params.gen_ramp))
    _, held, *_ = jax.jit(env.step_env)(jax.random.key(8), state, _zero(env, ramp), ramp)
    np.testing.assert_allclose(np.asarray(held.p_gen), np.asarray(state.p_gen), atol=1e-5)


def test_reward_values_stored_energy_and_reference_is_action_independent(setup):
    """Stored energy is valued at ``stored_energy_price`` (draining the battery is not free), and
    the exogenous reference shifts every action's reward by the same amount."""
    env, params, step, reset = setup
    _, state = reset(jax.random.key(3), params)
    G = params.gen_bus.shape[0]
    idle, dis = _zero(env, params), _zero(env, params).at[G].set(float(params.bat_p_max[0]))
    k = jax.random.key(4)
    _, n_dis, r_dis, *_, i_dis = step(k, state, dis, params)
    _, _, r_idle, *_, i_idle = step(k, state, idle, params)
    d_energy = float((n_dis.soc[0] - state.soc[0]) * params.bat_e_max[0])
    assert d_energy < 0
    assert float(i_dis["stored_value"]) == pytest.approx(float(params.stored_energy_price) * d_energy,
                                                         rel=1e-5)
    expected = -(float(i_dis["dollars"]) - float(i_dis["stored_value"])
                 - float(i_dis["reference_dollars"])) / float(params.reward_scale)
    assert float(r_dis) == pytest.approx(expected, rel=1e-4)
    no_ref = params.replace(reward_reference=jnp.float32(0.0))
    _, _, q_dis, *_ = step(k, state, dis, no_ref)
    _, _, q_idle, *_ = step(k, state, idle, no_ref)
    assert float(i_dis["reference_dollars"]) == float(i_idle["reference_dollars"]) > 0
    assert float(r_dis - r_idle) == pytest.approx(float(q_dis - q_idle), abs=1e-5)
    # non-positive curtailment actions curtail nothing
    neg = idle.at[G + 1:].set(-1.0)
    _, n_neg, *_ = step(k, state, neg, params)
    _, n_idle, *_ = step(k, state, idle, params)
    np.testing.assert_array_equal(np.asarray(n_neg.ren_out), np.asarray(n_idle.ren_out))
