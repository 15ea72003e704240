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


class _ConstantPolicy:
    """Stands in for policy.onnx: the same action for every row."""

    def __init__(self, action: np.ndarray):
        self.action = action

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.action, (obs.shape[0], *self.action.shape)).copy()


def test_a_host_local_controller_takes_the_rows_the_guard_rejects():
    """PowerGridCongested's local controller is DC-OPF, which calls HiGHS on the host: the live twin
    runs it in local mode, so validation's fallback runs it too (not a jittable stand-in). With every
    reading bad, every policy row is rejected and the policy's episodes are DC-OPF's, step for step."""
    from twingym.policies.scenarios import Corruption
    from twingym.policies.validate import Engine

    env, params = te.make("PowerGridCongested-v0")
    baselines = env.baselines()
    assert fallback_baseline(env, params, baselines) == env.local_controller(params) == "dc_opf"
    assert not baselines["dc_opf"].jittable
    assert LiveTwin("PowerGridCongested-v0", record_state=False).baseline_name == "dc_opf"
    space = env.action_space(params)
    policy = _ConstantPolicy(np.asarray(space.high, np.float32))   # far from what DC-OPF sends
    engine = Engine(env, params, policy, {"dc_opf": baselines["dc_opf"]})
    runs, _ = engine.run(params, episodes=2, horizon=4, seed=3, corruption=Corruption(nonfinite_prob=1.0))
    assert runs["policy"].fallback_frac == 1.0
    np.testing.assert_array_equal(runs["policy"].trajectory["action"], runs["dc_opf"].trajectory["action"])
    np.testing.assert_allclose(runs["policy"].returns, runs["dc_opf"].returns, rtol=1e-6)
    # with clean readings the policy acts itself, and its constant action is not DC-OPF's
    clean, _ = engine.run(params, episodes=2, horizon=4, seed=3, corruption=Corruption())
    assert clean["policy"].fallback_frac == 0.0
    assert not np.allclose(clean["policy"].trajectory["action"], clean["dc_opf"].trajectory["action"])
