"""The shared env test kit: every registered twin is checked here the moment it is registered.

Checks: gymnasium's and stable-baselines3's ``check_env``; the same key gives identical
trajectories; 1,000 random steps stay inside the observation space with finite rewards and costs;
a vmapped batch equals stepping each copy alone; ``step`` compiles once for a given batch shape;
the gymnasium vector and SB3 adapters step the batch; the vector env equals gymnasium's own
``SyncVectorEnv`` over the single env key by key and runs under gymnasium's vector wrappers; the
gymnasium registration carries the twin's episode length with the env checker on; non-finite
actions are replaced by the safe action and counted in the cost.
"""

from __future__ import annotations

import warnings
from functools import partial

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import twingym.envs as twin_envs
from gymnasium.vector import AutoresetMode
from twingym.envs.adapters import GymnasiumEnv, JaxVectorEnv, SB3VecEnv
from vector_parity import assert_same_as_sync_vector_env

TWIN_IDS = sorted(twin_envs.registered())
#: (twin id, param overrides): every registered twin with its defaults, plus twins whose options
#: change what the kit must hold (another turbine: other spaces, another reference controller)
TWIN_CASES = [(twin_id, {}) for twin_id in TWIN_IDS] + [("WindTurbine-v0", {"turbine": "iea_15MW"})]


@pytest.fixture(scope="module", params=TWIN_CASES,
                ids=[twin_id + "".join(f"-{v}" for v in o.values()) for twin_id, o in TWIN_CASES])
def case(request):
    return request.param


@pytest.fixture(scope="module")
def twin(case):
    twin_id, overrides = case
    env, params = twin_envs.make(twin_id, **overrides)
    return twin_id, env, params


@pytest.fixture(scope="module")
def overrides(case):
    return dict(case[1])


@partial(jax.jit, static_argnums=(0, 3))
def random_rollout(env, key, params, num_steps):
    """Random actions for ``num_steps`` from one reset; returns stacked obs, rewards, costs, flags."""
    k_reset, k_run = jax.random.split(key)
    obs, state = env.reset(k_reset, params)
    space = env.action_space(params)

    def body(carry, k):
        state, _ = carry
        k_act, k_step = jax.random.split(k)
        action = space.sample(k_act)
        obs, state, reward, terminated, truncated, info = env.step(k_step, state, action, params)
        return (state, obs), (obs, reward, info["cost"], terminated, truncated,
                              info["final_observation"])

    _, out = jax.lax.scan(body, (state, obs), jax.random.split(k_run, num_steps))
    return (obs, *out)


def test_gymnasium_check_env(twin, overrides):
    twin_id, _, _ = twin
    from gymnasium.utils.env_checker import check_env

    env = GymnasiumEnv(twin_id, render_mode=None, **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)


def test_sb3_check_env(twin, overrides):
    twin_id, _, _ = twin
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(GymnasiumEnv(twin_id, **overrides), warn=False)


#: one rollout length for every kit test that runs a single copy: the scan compiles once per twin
ROLLOUT_STEPS = 1000


def test_same_key_same_trajectory(twin):
    _, env, params = twin
    key = jax.random.key(7)
    first = jax.device_get(random_rollout(env, key, params, ROLLOUT_STEPS))
    second = jax.device_get(random_rollout(env, key, params, ROLLOUT_STEPS))
    other = jax.device_get(random_rollout(env, jax.random.key(8), params, ROLLOUT_STEPS))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1]), "different keys gave the same observations"


def test_thousand_random_steps_stay_in_bounds(twin):
    _, env, params = twin
    obs0, obs, reward, cost, terminated, truncated, final_obs = jax.device_get(
        random_rollout(env, jax.random.key(0), params, ROLLOUT_STEPS))
    space = env.observation_space(params)
    gym_space = space.to_gymnasium()
    for o in (obs0, *obs, *final_obs):
        assert gym_space.contains(np.asarray(o, dtype=gym_space.dtype)), f"observation outside space: {o}"
    assert np.all(np.isfinite(reward)), "non-finite reward"
    assert np.all(np.isfinite(cost)) and np.all(cost >= 0), "cost must be finite and >= 0"
    assert reward.dtype == np.float32 and cost.dtype == np.float32
    assert terminated.dtype == np.bool_ and truncated.dtype == np.bool_
    assert not np.any(terminated & truncated), "terminated and truncated must be kept apart"


def test_vmapped_batch_equals_single_copies(twin):
    _, env, params = twin
    batch, steps = 4, 12
    keys = jax.random.split(jax.random.key(3), batch)
    batched = jax.device_get(jax.vmap(random_rollout, in_axes=(None, 0, None, None))(
        env, keys, params, steps))
    for i in range(batch):
        single = jax.device_get(random_rollout(env, keys[i], params, steps))
        for a, b in zip(batched, single, strict=True):
            np.testing.assert_allclose(np.asarray(a)[i], b, rtol=1e-5, atol=1e-5)


def test_step_compiles_once_per_batch_shape(twin):
    _, env, params = twin
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    batch = 8
    keys = jax.random.split(jax.random.key(1), batch)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    space = env.action_space(params)
    for i in range(4):
        actions = jax.vmap(space.sample)(jax.random.split(jax.random.key(10 + i), batch))
        _, state, *_ = step(jax.random.split(jax.random.key(20 + i), batch), state, actions, params)
    assert step._cache_size() == 1, f"step compiled {step._cache_size()} times for one batch shape"


def test_vector_adapters_step_the_batch(twin, overrides):
    twin_id = twin[0]
    vec = gymnasium.make_vec(f"twingym/{twin_id}", num_envs=3, **overrides)
    assert isinstance(vec, JaxVectorEnv)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, *vec.single_observation_space.shape)
    obs, reward, terminated, _, infos = vec.step(vec.action_space.sample())
    assert reward.shape == (3,) and terminated.dtype == np.bool_ and "cost" in infos
    sb3 = SB3VecEnv(twin_id, num_envs=3, seed=0, **overrides)
    obs = sb3.reset()
    assert obs.shape == (3, *sb3.observation_space.shape)
    obs, reward, _, infos = sb3.step(np.stack([sb3.action_space.sample() for _ in range(3)]))
    assert len(infos) == 3 and all("cost" in i for i in infos)


def test_render_gives_rgb_image(twin):
    twin_id, env, params = twin
    _, state = env.reset(jax.random.key(0), params)
    try:
        image = env.render(jax.device_get(state), params)
    except NotImplementedError:
        pytest.skip(f"{twin_id} has no render()")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] >= 32 and image.shape[1] >= 32
    assert image.std() > 0, "render() returned a blank image"


def test_baselines_act_inside_action_space(twin):
    _, env, params = twin
    space = env.action_space(params).to_gymnasium()
    obs, _ = env.reset(jax.random.key(0), params)
    for name, baseline in env.baselines().items():
        carry = baseline.init(params)
        action, _ = baseline.act(carry, obs, params) if baseline.jittable else \
            baseline.act(carry, np.asarray(obs), params)
        action = np.asarray(action, dtype=space.dtype).reshape(space.shape)
        assert space.contains(action), f"baseline {name} acted outside the action space: {action}"
    if env.reference_baseline is not None:
        assert env.reference_baseline in env.baselines()


def test_labels_cover_every_component(twin):
    _, env, params = twin
    obs_labels = env.observation_labels(params)
    act_labels = env.action_labels(params)
    assert len(obs_labels) == int(np.prod(env.observation_space(params).shape))
    assert len(act_labels) == max(1, int(np.prod(env.action_space(params).shape)))
    names = [(lab.asset, lab.name) for lab in obs_labels + act_labels]
    assert len(set(names)) == len(names), "observation/action labels must be unique (asset, name)"


def test_scenarios_are_valid_param_overrides(twin, overrides):
    twin_id, env, _ = twin
    scenarios = env.scenarios()
    assert "nominal" in scenarios
    for name, scenario in scenarios.items():
        _, params = twin_envs.make(twin_id, **overrides, **scenario)
        obs, _ = env.reset(jax.random.key(0), params)
        assert jnp.all(jnp.isfinite(obs)), f"scenario {name} gave a non-finite first observation"


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_equals_gymnasium_sync_vector_env(twin, overrides, mode):
    assert_same_as_sync_vector_env(twin[0], mode, num_envs=3, max_steps=3, num_steps=8, **overrides)


def test_vector_env_runs_under_gymnasium_vector_wrappers(twin, overrides):
    from gymnasium.wrappers import vector as vw

    episode = 4
    vec = gymnasium.make_vec(f"twingym/{twin[0]}", num_envs=3, max_episode_steps=episode, **overrides)
    if isinstance(vec.single_action_space, gymnasium.spaces.Box):
        vec = vw.ClipAction(vec)
    env = vw.NormalizeReward(vw.NormalizeObservation(vw.RecordEpisodeStatistics(vec)))
    env.reset(seed=5)
    lengths = []
    for _ in range(2 * episode + 1):
        obs, reward, terminated, _, info = env.step(env.action_space.sample())
        assert np.all(np.isfinite(obs)) and np.all(np.isfinite(reward))
        if "episode" in info:
            lengths += info["episode"]["l"][info["_episode"]].tolist()
    assert lengths and all(1 <= n <= episode for n in lengths)
    if not any(terminated):  # no early end on the last episode: every copy ran the full episode
        assert lengths.count(episode) >= 3


def test_registration_carries_episode_length_and_env_checker(twin):
    twin_id, _, params = twin
    gym_spec = gymnasium.spec(f"twingym/{twin_id}")
    assert gym_spec.max_episode_steps == params.max_steps == twin_envs.spec(twin_id).max_episode_steps
    assert gym_spec.disable_env_checker is False
    env = gymnasium.make(f"twingym/{twin_id}")
    wrappers = []
    while isinstance(env, gymnasium.Wrapper):
        wrappers.append(type(env).__name__)
        env = env.env
    assert "PassiveEnvChecker" in wrappers and "TimeLimit" in wrappers


def test_nonfinite_actions_take_the_safe_action_and_cost(twin, overrides):
    twin_id, env, params = twin
    space = env.action_space(params)
    if not jnp.issubdtype(space.dtype, jnp.floating):
        with pytest.raises(ValueError, match="non-finite action"):
            single = GymnasiumEnv(twin_id, **overrides)
            single.reset(seed=0)
            single.step(np.full(space.shape, np.nan))
        return
    _, state = env.reset(jax.random.key(0), params)
    action = space.sample(jax.random.key(1))
    key = jax.random.key(2)
    step = jax.jit(env.step)
    safe = env.safe_action(state, action, params)
    assert space.to_gymnasium().contains(np.asarray(safe, dtype=space.dtype)), "safe action outside the space"
    bad = action.reshape(-1).at[0].set(jnp.nan).at[-1].set(jnp.inf).reshape(action.shape)
    fixed = action.reshape(-1).at[0].set(safe.reshape(-1)[0]).at[-1].set(safe.reshape(-1)[-1])
    n_bad = 1 if action.size == 1 else 2
    out_bad = jax.device_get(step(key, state, bad, params))
    out_ref = jax.device_get(step(key, state, fixed.reshape(action.shape), params))
    np.testing.assert_array_equal(out_bad[0], out_ref[0])
    assert np.all(np.isfinite(out_bad[0])) and np.isfinite(out_bad[2])
    assert int(out_bad[5]["nonfinite_action"]) == n_bad and int(out_ref[5]["nonfinite_action"]) == 0
    assert float(out_bad[5]["cost"]) == pytest.approx(float(out_ref[5]["cost"]) + n_bad)
    single = GymnasiumEnv(twin_id, **overrides)
    single.reset(seed=0)
    obs, reward, *_, info = single.step(np.full(space.shape, np.nan, dtype=np.float32))
    assert single.observation_space.contains(obs) and np.isfinite(reward)
    assert info["nonfinite_action"] == action.size and info["cost"] >= action.size
