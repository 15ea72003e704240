"""Parity of twingym's vector env with gymnasium's own ``SyncVectorEnv`` over the single env."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from twingym.envs import make as twingym_make


def assert_same_value(ours: Any, theirs: Any, where: str, atol: float = 1e-5) -> None:
    """Equal structure, keys, dtypes and shapes; floats to rtol 1e-5 and ``atol`` (a vmapped batch
    vs one copy: the twin's ``batch_parity_atol``)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{where}: expected a dict, got {type(ours).__name__}"
        assert sorted(ours) == sorted(theirs), f"{where}: keys {sorted(ours)} != {sorted(theirs)}"
        for key in theirs:
            assert_same_value(ours[key], theirs[key], f"{where}[{key!r}]", atol)
        return
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
    if theirs.dtype == object:  # final_obs: an observation or None per copy
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert (a is None) == (b is None), f"{where}[{i}]: {a} vs {b}"
            if b is not None:
                assert_same_value(a, b, f"{where}[{i}]", atol)
    elif np.issubdtype(theirs.dtype, np.inexact):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=atol, err_msg=where)
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=where)


def assert_same_as_sync_vector_env(twin_id: str, mode: AutoresetMode, num_envs: int, max_steps: int,
                                   num_steps: int, **overrides: Any) -> None:
    """Step ``make_vec`` (twingym's vector entry point) and ``make_vec(vectorization_mode="sync")``
    on the same per-copy seeds and actions; every output must agree, infos key by key."""
    gym_id = f"twingym/{twin_id}"
    ours = gymnasium.make_vec(gym_id, num_envs=num_envs, autoreset_mode=mode, max_steps=max_steps,
                              **overrides)
    theirs = gymnasium.make_vec(gym_id, num_envs=num_envs, vectorization_mode="sync",
                                vector_kwargs={"autoreset_mode": mode}, max_steps=max_steps, **overrides)
    assert type(ours).__name__ == "JaxVectorEnv" and ours.metadata["autoreset_mode"] == mode
    env, params = twingym_make(twin_id, max_steps=max_steps, **overrides)
    atol = env.batch_parity_atol(params)
    seeds = [11 + 7 * i for i in range(num_envs)]
    for a, b, name in zip(ours.reset(seed=seeds), theirs.reset(seed=seeds), ("obs", "info"), strict=True):
        assert_same_value(a, b, f"reset {name}", atol)
    space = theirs.single_action_space
    space.seed(0)
    done = np.zeros(num_envs, dtype=bool)
    for t in range(num_steps):
        if mode == AutoresetMode.DISABLED and done.any():
            for a, b, name in zip(ours.reset(options={"reset_mask": done.copy()}),
                                  theirs.reset(options={"reset_mask": done.copy()}),
                                  ("obs", "info"), strict=True):
                assert_same_value(a, b, f"masked reset before step {t} {name}", atol)
        actions = np.stack([space.sample() for _ in range(num_envs)])
        out_ours, out_theirs = ours.step(actions), theirs.step(actions)
        for a, b, name in zip(out_ours, out_theirs, ("obs", "reward", "terminated", "truncated", "info"),
                              strict=True):
            assert_same_value(a, b, f"step {t} {name}", atol)
        done = out_theirs[2] | out_theirs[3]
    ours.close()
    theirs.close()
