"""PowerGridCongested-v0: merit order congests it, DC-OPF on the forecast keeps its DC flows within
the ratings, and the perfect-foresight oracle faces the same days and does at least as well."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import twingym.envs as twin_envs
from twingym.envs.power_grid import env as grid_env
from twingym.envs.power_grid.baselines import dc_opf_solve, obs_slices
from twingym.training.evaluate import evaluate_controllers, paired_difference


@pytest.fixture(scope="module")
def grid():
    return twin_envs.make("PowerGridCongested-v0")


def _zero_rollout(env, params, n_episodes: int, seed: int):
    """Merit order (zero redispatch in schedule mode) for one day: per-step overload MVA and loads."""
    a_dim = env.action_space(params).shape[0]

    @jax.jit
    def run(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n_episodes), params)

        def body(st, k):
            ks = jax.random.split(k, n_episodes)
            _, st, _, term, _, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                ks, st, jnp.zeros((n_episodes, a_dim)), params)
            return st, (info["overload_mva"], term, st.e_load, st.z_ren)

        return jax.lax.scan(body, state, jax.random.split(jax.random.fold_in(key, 1), 96))[1]

    return [np.asarray(x) for x in run(jax.random.PRNGKey(seed))]


def test_merit_order_overloads_the_congested_family(grid):
    env, params = grid
    overload, _, _, _ = _zero_rollout(env, params, 4, seed=0)
    assert overload.sum() > 0.0, "merit order never overloads a line on the congested family"
    # the same days with every rating multiplied by 2.5 are not congested
    loose = env.replace_params(params, rating_scale=2.5)
    assert _zero_rollout(env, loose, 4, seed=0)[0].sum() == 0.0


def test_foresight_changes_what_is_published_not_the_day(grid):
    env, params = grid
    plain = _zero_rollout(env, params, 2, seed=3)
    seen = _zero_rollout(env, env.replace_params(params, foresight=1.0), 2, seed=3)
    # the same realised day (load, then renewable latents), to float32 rounding: with and without
    # foresight the twin is two programs, which XLA may fuse differently
    np.testing.assert_allclose(plain[2], seen[2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(plain[3], seen[3], rtol=1e-6, atol=1e-6)
    obs, state = env.reset(jax.random.PRNGKey(5), env.replace_params(params, foresight=1.0, obs_noise_std=0.0))
    nxt = grid_env._loads(jnp.int32(1), state.level, state.e_load_next, params)[0]
    s = obs_slices(params)
    np.testing.assert_allclose(float(obs[s["load_fc"]][0]), float(jnp.sum(nxt)), rtol=1e-5)


@pytest.mark.slow   # 40 HiGHS solves and 40 host-side steps of case30
def test_dc_opf_on_the_forecast_keeps_its_dc_flows_within_the_ratings(grid):
    env, params = grid
    key = jax.random.PRNGKey(11)
    obs, state = env.reset(key, params)
    rating_mw = np.asarray(params.rating_pu) * float(params.rating_scale) * params.sn_mva
    checked = 0
    for t in range(40):
        sol = dc_opf_solve(np.asarray(obs, np.float64), params)
        if np.all(sol["overflow_mw"] < 1e-6):   # the limits could be met on the forecast
            on = np.asarray(state.status) > 0.5
            assert np.all(np.abs(sol["flow_mw"][on]) <= sol["limit_mw"][on] + 1e-6)
            assert np.all(np.abs(sol["flow_mw"][on]) <= rating_mw[on])
            checked += 1
        obs, state, *_ = env.step(jax.random.fold_in(key, t), state, jnp.asarray(sol["action"]), params)
    assert checked >= 30


@pytest.mark.slow   # 12 host-side DC-OPF days
def test_perfect_foresight_is_at_least_as_good_as_the_forecast(grid):
    env, params = grid
    opf = env.baselines()["dc_opf"]
    oracle, overrides = env.oracle_controllers()["dc_opf_foresight"]
    fc = evaluate_controllers(env, params, {"dc_opf": opf}, 6, seed=2)["dc_opf"]
    pf = evaluate_controllers(env, env.replace_params(params, **overrides), {"pf": oracle}, 6, seed=2)["pf"]
    assert paired_difference(pf, fc)["mean"] >= 0.0
