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


@partial(jax.jit, static_argnums=(0, 3))
def _rollout(env, params, policy_speed_maint, steps, key, state):
    """Fixed action for ``steps`` cycles from ``state`` with step_env (no auto-reset)."""
    action = policy_speed_maint

    def body(state, k):
        obs, new, reward, _, _, info = env.step_env(k, state, action, params)
        return new, (obs, new, reward, info)

    return jax.lax.scan(body, state, jax.random.split(key, steps))


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
    maintain = jnp.array([0, 0, 1, 0, 0])
    _, state1, _, _, _, info = jax.jit(env.step_env)(jax.random.PRNGKey(1), state,
                                                     _action([NOMINAL] * 5, maintain), params)
    assert int(state1.status[2]) == MAINTENANCE and float(state1.wear[2]) == 0.0
    assert int(info["maintenances"]) == 1 and not bool(info["processed"][2])
    # keep nominal speed without requests: station 2 processes nothing for maint_duration cycles
    # (the request's cycle included), and its status reads maintenance until it is back up
    _, (obs, states, _, info_n) = _rollout(env, params, _action([NOMINAL] * 5, [0] * 5), 12,
                                           jax.random.PRNGKey(2), state1)
    d = params.maint_duration
    processed = np.asarray(info_n["processed"])[:, 2]
    assert not processed[: d - 1].any() and processed[d - 1:].sum() >= 3
    status2 = np.asarray(states.status)[:, 2]
    assert np.all(status2[: d - 2] == MAINTENANCE) and np.all(status2[d - 2:] == UP)
    flags = np.asarray(obs)[:, ob.station_index(2, "in_maintenance")]
    np.testing.assert_array_equal(flags, status2 == MAINTENANCE)


def test_repair_duration_and_cost():
    env, params = twin_envs.make("AssemblyCell-v0", repair_min=5, repair_max=9, repair_wear_after=0.1)
    # station 0 fails on its first part, the others never
    params = params.replace(hazard_base=jnp.array([1.0, 0, 0, 0, 0]), hazard_wear=jnp.zeros(5),
                            proc_prob=params.proc_prob.at[0, NOMINAL].set(1.0))
    downs = []
    for seed in range(6):
        _, state = env.reset(jax.random.PRNGKey(seed), params)
        _, (_, states, _, info) = _rollout(env, params, _action([NOMINAL] * 5, [0] * 5), 40,
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
    params = params.replace(hazard_base=jnp.zeros(5), hazard_wear=jnp.zeros(5), max_steps=10_000)
    n = 32
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    _, state = jax.jit(jax.vmap(env.reset, (0, None)))(keys, params)
    state = state.replace(wear=jnp.zeros((n, 5)))
    run = jax.vmap(_rollout, (None, None, 0, None, 0, 0))
    actions = jnp.stack([_action([level] * 5, [0] * 5) for level in (OFF, ECO, NOMINAL, BOOST)])
    rates, energies = [], []
    for level in (OFF, ECO, NOMINAL, BOOST):
        _, (_, states, _, info) = run(env, params, jnp.broadcast_to(actions[level], (n, 10)), 400,
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
        obs, state = jax.jit(jax.vmap(env.reset, (0, None)))(keys, p)
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
    _, (_, states, reward, info) = _rollout(env, params, _action([ECO] * 5, [0] * 5), 288,
                                            jax.random.PRNGKey(10), state)
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
def _evaluate(env, baseline, params, n, key):
    keys = jax.random.split(key, n)
    obs, state = jax.vmap(env.reset, (0, None))(keys, params)
    carry = jax.vmap(lambda _: baseline.init(params))(jnp.arange(n))

    def body(c, k):
        obs, state, carry = c
        action, carry = jax.vmap(baseline.act, (0, 0, None))(carry, obs, params)
        obs, state, r, _, _, info = jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(k, n), state,
                                                                        action, params)
        return (obs, state, carry), (r, info["failures"], info["orders"], info["price"])

    _, out = jax.lax.scan(body, (obs, state, carry), jax.random.split(key, params.max_steps))
    return jax.tree.map(lambda x: x.sum(0), out)


def test_baselines_beat_run_to_failure_on_nominal(cell):
    env, params = cell
    returns = {name: np.asarray(_evaluate(env, bl, params, 96, jax.random.PRNGKey(11))[0])
               for name, bl in env.baselines().items()}
    rtf = returns.pop(env.reference_baseline)
    for name, ret in returns.items():
        diff = ret - rtf                       # same seeds: common random numbers
        assert diff.mean() - 2.0 * diff.std(ddof=1) / np.sqrt(diff.size) > 0, name


def test_scenarios_move_what_they_claim(cell):
    env, _ = cell
    bl = env.baselines()["run_to_failure"]
    out = {}
    for name in ("nominal", "station_breakdowns", "failure_rate_shift", "demand_spike", "price_spike"):
        _, p = twin_envs.make("AssemblyCell-v0", **env.scenarios()[name])
        _, fails, orders, price = _evaluate(env, bl, p, 64, jax.random.PRNGKey(12))
        out[name] = (float(fails.mean()), float(orders.mean()), float(price.mean()))
    assert out["station_breakdowns"][0] > out["nominal"][0] + 2.0
    assert out["failure_rate_shift"][0] > out["nominal"][0] * 1.2
    assert out["demand_spike"][1] > out["nominal"][1] + 0.6 * 0.5 * 72 * 0.8   # 6 h x 0.3 extra/cycle
    assert out["price_spike"][2] > out["nominal"][2] * 1.4
    _, p = twin_envs.make("AssemblyCell-v0", **env.scenarios()["price_spike"])
    assert float(price_at(jnp.float32(17.5), p)) == pytest.approx(4 * float(p.price_tou[17]))
    assert set(env.scenarios()) == {"nominal", "sensor_noise_x3", "station_breakdowns", "demand_spike",
                                    "price_spike", "failure_rate_shift"}


def test_render_shows_status_colours(cell):
    env, params = cell
    _, state = env.reset(jax.random.PRNGKey(0), params)
    img_up = env.render(state, params)
    img_fail = env.render(state.replace(status=jnp.full((5,), FAILED, jnp.int32)), params)
    assert img_up.dtype == np.uint8 and img_up.ndim == 3 and img_up.shape[2] == 3
    red = (img_fail[..., 0] > 190) & (img_fail[..., 1] < 70)
    assert red.sum() > 1000 and ((img_up[..., 0] > 190) & (img_up[..., 1] < 70)).sum() == 0
