"""WindFarm-v0 (the Done-when twin): a degraded policy exports, validates on the farm's own suite and
fails with the failing gates named, while equivalence, fuzz and latency hold for its graph."""

from __future__ import annotations

import numpy as np
import pytest
import twingym.envs as twin_envs
from specs import random_spec
from twingym.policies.bundle import load_bundle
from twingym.policies.export import export_spec
from twingym.policies.scenarios import default_suite
from twingym.policies.validate import validate_bundle

pytestmark = pytest.mark.slow


def test_degraded_wind_farm_policy_fails_with_gates_named(tmp_path):
    env, params = twin_envs.make("WindFarm-v0")
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    # a random policy squashed into the farm's action bounds: it steers turbines blindly
    spec = random_spec(int(np.prod(obs_space.shape)), "tanh_scale", out=int(np.prod(act_space.shape)),
                       low=act_space.low_array.ravel(), high=act_space.high_array.ravel(), seed=11)
    path = export_spec(spec, tmp_path / "wf", twin_id="WindFarm-v0", backend="synthetic")
    manifest = load_bundle(path).manifest
    assert len(manifest.observation_labels) == int(np.prod(obs_space.shape))
    assert len(manifest.action_labels) == int(np.prod(act_space.shape))
    suite = default_suite(env, params, "WindFarm-v0")
    suite.episodes, suite.max_horizon = 8, 40
    outcome = validate_bundle(path, suite=suite)
    assert not outcome.passed
    assert "performance" in outcome.failed_gates
    assert {"equivalence", "fuzz", "latency"}.isdisjoint(outcome.failed_gates)
    assert set(env.scenarios()) <= set(outcome.record.scenarios)
    assert (path / "report.html").is_file()
