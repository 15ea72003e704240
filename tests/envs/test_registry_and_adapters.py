"""Registry, spaces and adapter behaviour that does not depend on a particular twin."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import twingym.envs as twin_envs
from gymnasium.vector import AutoresetMode
from twingym.envs import spaces
from twingym.envs.adapters import GymnasiumEnv, JaxVectorEnv, SB3VecEnv
from vector_parity import assert_same_as_sync_vector_env


def test_duplicate_and_malformed_ids_are_refused():
    with pytest.raises(ValueError, match="already registered"):
        twin_envs.register("ToyTank-v0", "toy_twin:ToyTank")
    with pytest.raises(ValueError, match="Name-vN"):
        twin_envs.register("toy_tank", "toy_twin:ToyTank")


def test_unknown_twin_and_unknown_override_name_the_valid_ones():
    with pytest.raises(twin_envs.UnknownTwinError, match=r"registered twins: .*ToyTank-v0"):
        twin_envs.make("NoSuchTwin-v0")
    with pytest.raises(ValueError, match="valid: inflow_gain, outflow_coeff, noise_std, max_steps"):
        twin_envs.make("ToyTank-v0", no_such_param=1.0)


def test_overrides_reach_the_params():
    _, params = twin_envs.make("ToyTank-v0", noise_std=0.0, max_steps=7)
    assert params.noise_std == 0.0 and params.max_steps == 7


def test_auto_reset_returns_fresh_episode_and_final_observation():
    env, params = twin_envs.make("ToyTank-v0", max_steps=3)
    obs, state = env.reset(jax.random.key(0), params)
    action = jnp.array([0.5])
    for t in range(3):
        obs, state, _, terminated, truncated, info = env.step(jax.random.key(t + 1), state, action, params)
    assert bool(truncated) and not bool(terminated)
    assert int(state.time) == 0, "state after the last step must be a fresh episode"
    assert float(info["final_observation"][2]) == pytest.approx(1.0)  # progress of the ended episode
    assert float(obs[2]) == 0.0
    # a fresh scenario from the key, not a cached start state
    _, state_a = env.reset(jax.random.key(100), params)
    _, state_b = env.reset(jax.random.key(101), params)
    assert float(state_a.reference) != float(state_b.reference)


@pytest.mark.parametrize("space", [
    spaces.Box(low=-1.0, high=np.array([1.0, 2.0, 3.0])),
    spaces.Box(low=-np.inf, high=np.inf, shape=(2,)),
    spaces.Discrete(5),
    spaces.MultiDiscrete((3, 4, 2)),
])
def test_spaces_sample_inside_and_convert(space):
    samples = jax.vmap(space.sample)(jax.random.split(jax.random.key(0), 256))
    assert bool(jnp.all(jax.vmap(space.contains)(samples)))
    gym_space = space.to_gymnasium()
    for s in np.asarray(samples)[:16]:
        assert gym_space.contains(np.asarray(s, dtype=gym_space.dtype))


def test_space_contains_rejects_outside_and_nan():
    box = spaces.Box(low=0.0, high=1.0, shape=(2,))
    assert not bool(box.contains(jnp.array([0.5, 1.5])))
    assert not bool(box.contains(jnp.array([0.5, jnp.nan])))
    assert not bool(box.contains(jnp.array([0.5])))
    md = spaces.MultiDiscrete((2, 3))
    assert not bool(md.contains(jnp.array([1, 3])))
    assert not bool(spaces.Discrete(3).contains(jnp.int32(3)))


def test_gymnasium_single_env_types_and_seeding():
    env = gymnasium.make("twingym/ToyTank-v0", render_mode="rgb_array")
    obs_a, _ = env.reset(seed=11)
    obs_b, _ = env.reset(seed=11)
    np.testing.assert_array_equal(obs_a, obs_b)
    obs, reward, terminated, truncated, info = env.step(np.array([0.3], dtype=np.float32))
    assert isinstance(obs, np.ndarray) and isinstance(reward, float)
    assert isinstance(terminated, bool) and isinstance(truncated, bool) and "cost" in info
    assert isinstance(info["cost"], float) and isinstance(info["nonfinite_action"], int)
    assert env.render().shape[-1] == 3


def test_module_form_make_in_fresh_interpreter():
    code = ("import gymnasium, sys; sys.path.insert(0, 'tests/envs');"
            "import twingym.envs as e; e.register('ToyTank-v0', 'toy_twin:ToyTank');"
            "import gymnasium as g;"
            "env = g.make('twingym.envs:twingym/ToyTank-v0'); print(type(env.unwrapped).__name__)")
    # registration of built-in twins happens on import of twingym.envs by the module form
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "GymnasiumEnv" in out.stdout
    builtin = sorted(twin_envs.BUILTIN_TWINS)
    if builtin:
        code = f"import gymnasium as g; env = g.make('twingym.envs:twingym/{builtin[0]}'); print('ok')"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_vector_env_same_step_autoreset_reports_final_obs():
    vec = JaxVectorEnv("ToyTank-v0", num_envs=2, max_steps=2, autoreset_mode="SameStep")
    vec.reset(seed=0)
    vec.step(np.full((2, 1), 0.5, np.float32))
    obs, _, _, truncated, infos = vec.step(np.full((2, 1), 0.5, np.float32))
    assert truncated.all()
    assert np.all(obs[:, 2] == 0.0), "same-step auto-reset returns the new episode's observation"
    assert infos["_final_obs"].all() and infos["final_obs"][0][2] == pytest.approx(1.0)


def test_vector_env_next_step_autoreset_is_the_default():
    vec = JaxVectorEnv("ToyTank-v0", num_envs=2, max_steps=2)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    vec.reset(seed=0)
    vec.step(np.full((2, 1), 0.5, np.float32))
    obs, _, _, truncated, _ = vec.step(np.full((2, 1), 0.5, np.float32))
    assert truncated.all() and np.allclose(obs[:, 2], 1.0), "done step returns the final observation"
    obs, reward, terminated, truncated, infos = vec.step(np.full((2, 1), 0.5, np.float32))
    assert np.all(obs[:, 2] == 0.0) and np.all(reward == 0.0) and not (terminated | truncated).any()
    assert infos == {}, "a copy reset rather than stepped reports no step info"
    obs, *_ = vec.step(np.full((2, 1), 0.5, np.float32))
    assert np.allclose(obs[:, 2], 0.5), "the reset episode advances from its first step"


def test_sb3_vec_env_reports_terminal_observation():
    venv = SB3VecEnv("ToyTank-v0", num_envs=2, seed=0, max_steps=2)
    venv.reset()
    venv.step(np.full((2, 1), 0.5, np.float32))
    obs, _, dones, infos = venv.step(np.full((2, 1), 0.5, np.float32))
    assert dones.all() and infos[0]["TimeLimit.truncated"] is True
    assert infos[0]["terminal_observation"][2] == pytest.approx(1.0)
    assert obs[0][2] == 0.0


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_vector_env_equals_sync_vector_env_in_every_autoreset_mode(mode):
    assert_same_as_sync_vector_env("ToyTank-v0", mode, num_envs=4, max_steps=3, num_steps=10)


def test_vector_env_honours_every_seed_of_a_list():
    vec = JaxVectorEnv("ToyTank-v0", num_envs=3)
    obs, _ = vec.reset(seed=[5, 6, 7])
    for i, seed in enumerate((5, 6, 7)):
        single, _ = GymnasiumEnv("ToyTank-v0").reset(seed=seed)
        np.testing.assert_allclose(obs[i], single, rtol=1e-6)
    assert not np.allclose(obs[0], obs[1])
    again, _ = vec.reset(seed=[9, 6, 7])
    np.testing.assert_array_equal(again[1:], obs[1:])
    assert not np.allclose(again[0], obs[0])
    with pytest.raises(ValueError, match="needs 3 seeds"):
        vec.reset(seed=[1, 2])


def test_disabled_autoreset_refuses_to_step_a_finished_copy():
    vec = JaxVectorEnv("ToyTank-v0", num_envs=2, max_steps=1, autoreset_mode="Disabled")
    vec.reset(seed=0)
    vec.step(np.zeros((2, 1), np.float32))
    with pytest.raises(RuntimeError, match="reset_mask"):
        vec.step(np.zeros((2, 1), np.float32))
    obs, _ = vec.reset(options={"reset_mask": np.array([True, True])})
    assert np.all(obs[:, 2] == 0.0)
    vec.step(np.zeros((2, 1), np.float32))


def test_episode_length_is_the_registered_one_with_make_and_make_vec():
    registered = gymnasium.spec("twingym/ToyTank-v0").max_episode_steps
    env = gymnasium.make("twingym/ToyTank-v0")
    env.reset(seed=0)
    for t in range(1, registered + 1):   # valve shut: the tank drains, it never overflows
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        assert not terminated and truncated == (t == registered)
    vec = gymnasium.make_vec("twingym/ToyTank-v0", num_envs=2, max_episode_steps=5)
    assert vec.unwrapped.params.max_steps == 5
    vec = gymnasium.make_vec("twingym/ToyTank-v0", num_envs=2, max_steps=7)
    assert vec.unwrapped.params.max_steps == 7, "the twin's own max_steps wins over the registered length"


def test_rllib_env_creator_registers_a_twin_that_is_not_built_in_in_a_fresh_process():
    """An RLlib env runner is another process: the env config's portable spec registers the twin there."""
    import json
    import subprocess
    import sys

    from twingym.envs.registry import portable_spec

    code = ("import json, sys; from twingym.envs.adapters import rllib_env_creator; "
            "import twingym.envs as e; cfg = json.loads(sys.argv[1]); before = cfg['twin_id'] in e.registered(); "
            "env = rllib_env_creator(cfg); obs, _ = env.reset(seed=0); "
            "print(json.dumps([before, list(obs.shape), type(env).__name__]))")
    cfg = {"twin_id": "ToyTank-v0", "param_overrides": {"noise_std": 0.0}, "seed": 1,
           "num_envs": 2, "twin": portable_spec("ToyTank-v0")}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cfg)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, [2, 3], "JaxVectorEnv"]
