"""PPO against a paired baseline: the paired copy runs on the policy copy's random numbers, so a policy
that plays the baseline earns exactly nothing over it, and any other policy's excess is its return
minus the baseline's return on the very same episodes."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from twingym.agents.jax_ppo import JaxPPOParams, make_train
from twingym.envs import make

# one chunk of 3 updates x 96 steps is one 288-cycle shift of every copy
CELL = dict(num_envs=4, rollout_steps=96, num_minibatches=2, num_epochs=1, updates_per_chunk=3,
            hidden_sizes=[16, 16], learning_rate=1e-6, paired_baseline="bottleneck_aware")


def _one_shift(logit: float) -> dict:
    env, params = make("AssemblyCell-v0", action_mode="residual")
    tr = make_train(JaxPPOParams(**CELL, init_first_category_logit=logit), env, params, 4 * 96 * 3)
    _, metrics = tr.chunk(tr.init(jax.random.PRNGKey(7)))
    last = {k: float(np.asarray(v)[0, -1]) for k, v in metrics.items()}
    assert last["episodes"] == 4, last
    return last


@pytest.fixture(scope="module")
def shifts() -> tuple[dict, dict]:
    """The last update's metrics of one shift with the rule's overrides (category 0 at logit 60: no
    other category is ever drawn) and one with overrides drawn at random (logit 0)."""
    return _one_shift(60.0), _one_shift(0.0)


def test_playing_the_paired_baseline_earns_nothing_over_it(shifts):
    as_rule, _ = shifts
    assert abs(as_rule["episode_return"]) > 1.0
    assert abs(as_rule["episode_return_over_baseline"]) <= 1e-5 * abs(as_rule["episode_return"])


def test_the_excess_is_the_return_minus_the_baselines_on_the_same_episodes(shifts):
    """The step keys do not depend on the actions, so the random policy's paired copy lives the rule
    policy's episodes: its return is the rule run's return, and a random override loses to it."""
    as_rule, random = shifts
    paired_return = random["episode_return"] - random["episode_return_over_baseline"]
    np.testing.assert_allclose(paired_return, as_rule["episode_return"], rtol=1e-5)
    assert random["episode_return_over_baseline"] < -1.0


@pytest.mark.parametrize(("twin", "name", "message"), [
    ("AssemblyCell-v0", "nope", "'nope' is not a baseline of AssemblyCell-v0"),
    ("PowerGrid-v0", "dc_opf", "'dc_opf' runs on the host"),
])
def test_a_baseline_the_rollout_cannot_run_is_refused_by_name(twin, name, message):
    env, params = make(twin)
    with pytest.raises(ValueError, match=message):
        make_train(JaxPPOParams(num_envs=2, rollout_steps=4, num_minibatches=1, paired_baseline=name),
                   env, params, 8)
