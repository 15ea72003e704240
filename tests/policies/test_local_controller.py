"""A policy that loses its inputs hands the twin to the plant's own controller, in validation and live.

In a residual action mode the plant's own controller is the one the residual wraps (zero action), not
the reference baseline: a guard fallback in validation and the live twin's ``local`` mode both run it.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import twingym.envs as te
from twingym.live.twin_runtime import LiveTwin
from twingym.policies.validate import fallback_baseline

RESIDUAL_TWINS = [("WindFarm-v0", "wake_steering"), ("AssemblyCell-v0", "bottleneck_aware")]


@pytest.mark.parametrize(("twin", "wrapped"), RESIDUAL_TWINS)
def test_a_residual_twin_falls_back_to_the_controller_it_wraps(twin, wrapped):
    env, absolute = te.make(twin)
    _, residual = te.make(twin, action_mode="residual")
    baselines = env.baselines()
    assert fallback_baseline(env, absolute, baselines) == env.reference_baseline != wrapped
    assert fallback_baseline(env, residual, baselines) == wrapped
    # the fallback acts as the residual twin's zero action: the same step, bit for bit
    obs, state = env.reset(jax.random.key(0), residual)
    space = env.action_space(residual)
    zero = np.zeros(space.shape, np.dtype(space.dtype))
    carry = baselines[wrapped].init(residual)
    for i in range(6):
        act, carry = baselines[wrapped].act(carry, obs, residual)
        key = jax.random.key(i + 1)
        by_fallback = env.step(key, state, act, residual)
        by_zero = env.step(key, state, zero, residual)
        for a, b in zip(jax.tree.leaves(by_fallback[:3]), jax.tree.leaves(by_zero[:3]), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        obs, state = by_zero[0], by_zero[1]
    # the live twin's local mode runs the same controller
    assert LiveTwin(twin, overrides={"action_mode": "residual"}, record_state=False).baseline_name == wrapped
    assert LiveTwin(twin, record_state=False).baseline_name == env.reference_baseline
