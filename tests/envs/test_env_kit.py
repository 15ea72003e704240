"""The shared env test kit: every registered twin is checked here the moment it is registered.

The kit ships as :func:`twingym.envs.check_twin` (:mod:`twingym.envs.check`: gymnasium's and
stable-baselines3's ``check_env``; the same key gives identical trajectories; 1,000 random steps stay
inside the observation space with finite rewards and costs; a vmapped batch equals stepping each copy
alone; ``step`` compiles once for a given batch shape; the gymnasium vector and SB3 adapters step the
batch; render, baselines, labels, scenarios); every check runs here on every twin case as its own
test. Beside the kit: the vector env equals gymnasium's own
``SyncVectorEnv`` over the single env key by key and runs under gymnasium's vector wrappers; the
gymnasium registration carries the twin's episode length with the env checker on; non-finite
actions are replaced by the safe action and counted in the cost.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import twingym.envs as twin_envs
from compiled_programs import release_compiled_programs
from gymnasium.vector import AutoresetMode
from twingym.envs.check import CHECKS, TwinUnderCheck, run_check
from vector_parity import assert_same_as_sync_vector_env

TWIN_IDS = sorted(twin_envs.registered())
#: (twin id, param overrides): every registered twin with its defaults, plus twins whose options
#: change what the kit must hold (another turbine: other spaces, another reference controller; a
#: residual action mode: other spaces, the rule's action in the state)
TWIN_CASES = [(twin_id, {}) for twin_id in TWIN_IDS] + [("WindTurbine-v0", {"turbine": "iea_15MW"}),
                                                       ("AssemblyCell-v0", {"action_mode": "residual"})]


@pytest.fixture(scope="module", params=TWIN_CASES,
                ids=[twin_id + "".join(f"-{v}" for v in o.values()) for twin_id, o in TWIN_CASES])
def case(request):
    return request.param


@pytest.fixture(scope="module")
def twin(case):
    twin_id, overrides = case
    env, params = twin_envs.make(twin_id, **overrides)
    yield twin_id, env, params
    release_compiled_programs()  # the whole kit in one process would run out of memory mappings


@pytest.fixture(scope="module")
def overrides(case):
    return dict(case[1])


@pytest.mark.parametrize("check", list(CHECKS))
def test_env_kit(twin, overrides, check):
    """One check of the shipped kit (:mod:`twingym.envs.check`) on one twin case."""
    twin_id, env, params = twin
    result = run_check(check, TwinUnderCheck(env, params, twin_id, overrides=overrides))
    if result.status == "skipped":
        pytest.skip(f"{twin_id}: {result.detail}")
    assert result.passed, f"{twin_id} {check}: {result.detail}"


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
