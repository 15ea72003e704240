"""Behaviour of AssemblyCell-v0: blocking rules, maintenance, repairs, speed levels, sensor noise,
economics, scenarios, baselines, labels and render."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import twingym.envs as twin_envs
from twingym.envs.assembly_cell import aggregation
from twingym.envs.assembly_cell import observation as ob
from twingym.envs.assembly_cell.dynamics import (
    BOOST,
    ECO,
    FAILED,
    MAINTENANCE,
    NOMINAL,
    OFF,
    UP,
    line_flow,
    price_at,
)


def _action(speed, maintain):
    return jnp.stack([jnp.asarray(speed, jnp.int32), jnp.asarray(maintain, jnp.int32)], axis=1).reshape(-1)


STEPS = 300      # one rollout length for every test: each helper below compiles once


def _rollout_impl(env, params, actions, key, state):
    """``actions`` (STEPS, 2M) from ``state`` with step_env (no auto-reset); per-step outputs."""

    def body(state, xs):
        k, action = xs
        obs, new, reward, _, _, info = env.step_env(k, state, action, params)
        return new, (obs, new, reward, info)

    return jax.lax.scan(body, state, (jax.random.split(key, actions.shape[0]), actions))


_rollout = jax.jit(_rollout_impl, static_argnums=0)
#: batched over copies: actions (n, STEPS, 2M), keys (n,), states (n, ...)
_batch_rollout = jax.jit(jax.vmap(_rollout_impl, (None, None, 0, 0, 0)), static_argnums=0)
_batch_reset = jax.jit(jax.vmap(lambda env, k, p: env.reset(k, p), (None, 0, None)), static_argnums=0)


def _repeat(action, n=None):
    seq = jnp.broadcast_to(action, (STEPS, action.shape[-1]))
    return seq if n is None else jnp.broadcast_to(seq, (n, *seq.shape))


@pytest.fixture(scope="module")
def cell():
    return twin_envs.make("AssemblyCell-v0")


def test_line_flow_blocked_before_service_rules():
    cap = jnp.array([2, 2])
    t, f = True, False
    # full buffers, every station capable: the last takes a part, so nobody upstream is blocked
    assert line_flow(jnp.array([t, t, t]), jnp.array([2, 2]), cap).tolist() == [t, t, t]
    # last station down: station 1 is blocked (buffer 1 full), so station 0 is blocked too
    assert line_flow(jnp.array([t, t, f]), jnp.array([2, 2]), cap).tolist() == [f, f, f]
    # empty buffers: stations 1 and 2 starved, station 0 is never starved
    assert line_flow(jnp.array([t, t, t]), jnp.array([0, 0]), cap).tolist() == [t, f, f]
    # a part in buffer 1 only: station 2 works, station 1 starved
    assert line_flow(jnp.array([t, t, t]), jnp.array([0, 1]), cap).tolist() == [t, f, t]
    # an incapable station neither takes nor gives
    assert line_flow(jnp.array([t, f, t]), jnp.array([1, 1]), cap).tolist() == [t, f, t]


def test_maintenance_downtime_and_wear_reset(cell):
    env, params = cell
    params = params.replace(hazard_base=jnp.zeros(5), hazard_wear=jnp.zeros(5))
    _, state = env.reset(jax.random.PRNGKey(0), params)
    state = state.replace(wear=jnp.full((5,), 0.5), buffers=jnp.array([3, 3, 3, 3], jnp.int32))
    # a maintenance request for station 2 in the first cycle only, nominal speed throughout
    actions = _repeat(_action([NOMINAL] * 5, [0] * 5)).at[0, 5].set(1)
    _, (obs, states, _, info) = _rollout(env, params, actions, jax.random.PRNGKey(2), state)
    assert int(states.status[0, 2]) == MAINTENANCE and float(states.wear[0, 2]) == 0.0
    assert int(info["maintenances"][0]) == 1 and int(np.asarray(info["maintenances"]).sum()) == 1
    # station 2 processes nothing for maint_duration cycles (the request's cycle included), and its
    # status reads maintenance until it is back up
    d = params.maint_duration
    processed = np.asarray(info["processed"])[:12, 2]
    assert not processed[:d].any() and processed[d:].sum() >= 3
    status2 = np.asarray(states.status)[:12, 2]
    assert np.all(status2[: d - 1] == MAINTENANCE) and np.all(status2[d - 1:] == UP)
    flags = np.asarray(obs)[:12, ob.station_index(2, "in_maintenance")]
    np.testing.assert_array_equal(flags, status2 == MAINTENANCE)
    # the cost of maintenance: fixed part plus the wear-proportional part
    assert float(info["profit"][0]) < -(params.maint_cost + 0.5 * params.maint_cost_per_wear) + 10.0


def test_repair_duration_and_cost():
    env, params = twin_envs.make("AssemblyCell-v0", repair_min=5, repair_max=9, repair_wear_after=0.1)
    # station 0 fails on its first part, the others never
    params = params.replace(hazard_base=jnp.array([1.0, 0, 0, 0, 0]), hazard_wear=jnp.zeros(5),
                            proc_prob=params.proc_prob.at[0, NOMINAL].set(1.0))
    downs = []
    for seed in range(6):
        _, state = env.reset(jax.random.PRNGKey(seed), params)
        _, (_, states, _, info) = _rollout(env, params, _repeat(_action([NOMINAL] * 5, [0] * 5)),
                                           jax.random.PRNGKey(100 + seed), state)
        status0 = np.asarray(states.status)[:, 0]
        assert status0[0] == FAILED                       # failed after processing in the first cycle
        run = np.argmax(status0 != FAILED)                # cycles spent failed after the failing one
        downs.append(run)
        assert float(states.wear[run, 0]) == pytest.approx(0.1)     # wear after repair
        assert int(np.asarray(info["failures"])[0]) == 1
    assert min(downs) >= 5 and max(downs) <= 9 and len(set(downs)) > 1


def test_speed_levels(cell):
    """Without failures each speed level is a Bernoulli line with p = proc_prob[:, level]: its
    throughput follows Li & Meerkov's aggregation; power and wear follow the level."""
    env, params = cell
    params = params.replace(hazard_base=jnp.zeros(5), hazard_wear=jnp.zeros(5))
    n = 128
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    _, state = _batch_reset(env, keys, params)
    state = state.replace(wear=jnp.zeros((n, 5)))
    rates, energies = [], []
    for level in (OFF, ECO, NOMINAL, BOOST):
        _, (_, states, _, info) = _batch_rollout(env, params, _repeat(_action([level] * 5, [0] * 5), n),
                                                 keys, state)
        parts = np.asarray(info["parts_out"])                       # (n, steps)
        rates.append(parts[:, 50:].mean())
        energies.append(float(np.asarray(info["energy_kwh"]).mean()))
        processed = np.asarray(info["processed"]).sum(axis=1)       # (n, 5) parts per station
        np.testing.assert_allclose(np.asarray(states.wear)[:, -1],
                                   processed * np.asarray(params.wear_rate)[:, level], rtol=1e-4,
                                   atol=1e-6)
        if level == OFF:
            assert parts.sum() == 0
            assert energies[-1] == pytest.approx(5 * params.standby_kw * params.dt_hours, rel=1e-5)
        else:
            p = np.asarray(params.proc_prob)[:, level]
            expected = aggregation(p, np.asarray(params.buffer_capacity))[0]
            assert rates[-1] == pytest.approx(expected, rel=0.03)
    assert rates[0] < rates[1] < rates[2] < rates[3]
    assert energies[0] < energies[1] < energies[2] < energies[3]


def test_wear_sensor_noise_and_obs_bounds(cell):
    env, params = cell
    for scale in (1.0, 3.0):
        p = params.replace(sensor_noise_std=params.sensor_noise_std * scale,
                           initial_wear_max=1.0)
        keys = jax.random.split(jax.random.PRNGKey(4), 2000)
        obs, state = _batch_reset(env, keys, p)
        idx = [ob.station_index(i, "wear_sensor") for i in range(5)]
        err = np.asarray(obs)[:, idx] - np.asarray(state.wear)
        inside = (np.asarray(state.wear) > 0.3) & (np.asarray(state.wear) < 0.7)  # away from clipping
        assert np.std(err[inside]) == pytest.approx(p.sensor_noise_std, rel=0.1)
        assert bool(jax.vmap(env.observation_space(p).contains)(obs).all())


def test_labels_and_spaces(cell):
    env, params = cell
    labels = env.observation_labels(params)
    assert len(labels) == env.observation_space(params).shape[0] == 36
    assets = {lab.asset for lab in labels + env.action_labels(params)}
    assert assets == {f"station_{i}" for i in range(5)} | {f"buffer_{i}" for i in range(4)} | {"cell"}
    assert env.action_space(params).nvec == (4, 2) * 5
    _, p3 = twin_envs.make("AssemblyCell-v0", num_stations=3)
    assert env.observation_space(p3).shape == (5 * 3 + 2 + 7,)
    assert env.action_space(p3).nvec == (4, 2) * 3


def test_economics_and_cost_is_backlog_growth(cell):
    env, params = cell
    _, state = env.reset(jax.random.PRNGKey(9), params)
    _, (_, states, reward, info) = _rollout(env, params, _repeat(_action([ECO] * 5, [0] * 5)),
                                            jax.random.PRNGKey(10), state)
    info = jax.tree.map(lambda x: x[:288], info)
    reward, states = reward[:288], jax.tree.map(lambda x: x[:288], states)
    backlog = np.concatenate([[int(state.backlog)], np.asarray(states.backlog)])
    np.testing.assert_array_equal(np.asarray(info["cost"]), np.maximum(np.diff(backlog), 0))
    np.testing.assert_allclose(np.asarray(reward), np.asarray(info["profit"]) * params.reward_scale,
                               rtol=1e-6)
    # parts shipped never exceed parts available, and orders are met from finished parts only
    shipped = np.asarray(info["shipped"]).sum()
    assert shipped <= np.asarray(info["parts_out"]).sum() + 0
    # the price follows the time-of-use table
    hours = (int(state.start_step) + np.arange(288)) * params.dt_hours % 24
    np.testing.assert_allclose(np.asarray(info["price"]),
                               np.asarray(params.price_tou)[np.floor(hours).astype(int)], rtol=1e-6)


@partial(jax.jit, static_argnums=(0, 1, 3))
def _evaluate(env, baselines, params, n, key):
    """Every baseline of the tuple on the same ``n`` seeds (common random numbers), in one compiled
    scan: per-episode sums of reward, failures, orders and price, each (len(baselines), n)."""
    b = len(baselines)
    keys = jax.random.split(key, n)
    obs, state = jax.vmap(env.reset, (0, None))(keys, params)
    obs, state = jax.tree.map(lambda x: jnp.broadcast_to(x, (b, *x.shape)), (obs, state))
    carries = tuple(jax.vmap(lambda _, bl=bl: bl.init(params))(jnp.arange(n)) for bl in baselines)
    step = jax.vmap(jax.vmap(env.step, (0, 0, 0, None)), (None, 0, 0, None))

    def body(c, k):
        obs, state, carries = c
        acted = [jax.vmap(bl.act, (0, 0, None))(carry, obs[i], params)
                 for i, (bl, carry) in enumerate(zip(baselines, carries, strict=True))]
        actions = jnp.stack([a for a, _ in acted])
        obs, state, r, _, _, info = step(jax.random.split(k, n), state, actions, params)
        return (obs, state, tuple(c for _, c in acted)), (r, info["failures"], info["orders"],
                                                         info["price"])

    _, out = jax.lax.scan(body, (obs, state, carries), jax.random.split(key, params.max_steps))
    return jax.tree.map(lambda x: x.sum(0), out)


def _all_baselines(env):
    names = sorted(env.baselines())
    return names, tuple(env.baselines()[name] for name in names)


def test_baselines_beat_run_to_failure_on_nominal(cell):
    env, params = cell
    names, baselines = _all_baselines(env)
    ret = np.asarray(_evaluate(env, baselines, params, 96, jax.random.PRNGKey(11))[0])
    returns = dict(zip(names, ret, strict=True))
    rtf = returns.pop(env.reference_baseline)
    for name, ret in returns.items():
        diff = ret - rtf                       # same seeds: common random numbers
        assert diff.mean() - 2.0 * diff.std(ddof=1) / np.sqrt(diff.size) > 0, name


def test_scenarios_move_what_they_claim(cell):
    env, _ = cell
    names, baselines = _all_baselines(env)
    rtf = names.index(env.reference_baseline)
    out = {}
    for name in ("nominal", "station_breakdowns", "failure_rate_shift", "demand_spike", "price_spike"):
        _, p = twin_envs.make("AssemblyCell-v0", **env.scenarios()[name])
        _, fails, orders, price = _evaluate(env, baselines, p, 96, jax.random.PRNGKey(12))
        out[name] = (float(fails[rtf].mean()), float(orders[rtf].mean()), float(price[rtf].mean()))
    assert out["station_breakdowns"][0] > out["nominal"][0] + 2.0
    assert out["demand_spike"][1] > out["nominal"][1] + 0.6 * 0.5 * 72 * 0.8   # 6 h x 0.3 extra/cycle
    assert out["price_spike"][2] > out["nominal"][2] * 1.4
    _, p = twin_envs.make("AssemblyCell-v0", **env.scenarios()["price_spike"])
    assert float(price_at(jnp.float32(17.5), p)) == pytest.approx(4 * float(p.price_tou[17]))
    assert set(env.scenarios()) == {"nominal", "sensor_noise_x3", "station_breakdowns", "demand_spike",
                                    "price_spike", "failure_rate_shift"}


def test_failure_rate_shift_scales_the_hazard(cell):
    """At a frozen wear level the failures per processed part follow the hazard, x1.5 in the shift."""
    env, _ = cell
    rates = []
    for name in ("nominal", "failure_rate_shift"):
        _, p = twin_envs.make("AssemblyCell-v0", repair_min=1, repair_max=1, repair_wear_after=0.8,
                              **env.scenarios()[name])
        p = p.replace(wear_rate=jnp.zeros((5, 4)))
        keys = jax.random.split(jax.random.PRNGKey(13), 128)
        _, state = _batch_reset(env, keys, p)
        state = state.replace(wear=jnp.full((128, 5), 0.8))
        _, (_, _, _, info) = _batch_rollout(env, p, _repeat(_action([NOMINAL] * 5, [0] * 5), 128), keys,
                                            state)
        rates.append(float(np.asarray(info["failures"]).sum() / np.asarray(info["processed"]).sum()))
    _, p0 = twin_envs.make("AssemblyCell-v0")
    expected = float(p0.hazard_base[0] + p0.hazard_wear[0] * 0.8 ** p0.hazard_shape)
    assert rates[0] == pytest.approx(expected, rel=0.1)
    assert rates[1] == pytest.approx(1.5 * expected, rel=0.1)


def test_render_shows_status_colours(cell):
    env, params = cell
    _, state = env.reset(jax.random.PRNGKey(0), params)
    img_up = env.render(state, params)
    img_fail = env.render(state.replace(status=jnp.full((5,), FAILED, jnp.int32)), params)
    assert img_up.dtype == np.uint8 and img_up.ndim == 3 and img_up.shape[2] == 3
    red = (img_fail[..., 0] > 190) & (img_fail[..., 1] < 70)
    assert red.sum() > 1000 and ((img_up[..., 0] > 190) & (img_up[..., 1] < 70)).sum() == 0
