"""Export of real training runs, one test per backend: ``twingym train`` a tiny run, ``twingym
export`` it, and check that onnxruntime's actions match the backend's own deterministic policy
(``twingym.agents.deterministic_actions``) within 1e-4 of the action range on 10,000 observations
drawn from rollouts (the export-time check), and again on 10,000 observations of independent
random-action rollouts."""

from __future__ import annotations

import importlib

import jax
import numpy as np
import pytest
import yaml
from twingym.envs import make
from twingym.policies.bundle import load_bundle
from twingym.policies.export import action_error
from twingym.policies.runtime import OnnxPolicy

from twingym.cli import app
from twingym.cli.errors import run_guarded

agents = importlib.import_module("twingym.agents")

#: every backend trains on the test-only ToyTank (RLlib's env runner processes register it from the
#: env config's portable spec, as they would a twin from a user's own package).
BACKENDS = [
    pytest.param("jax_ppo", "ToyTank-v0", {"num_envs": 8, "rollout_steps": 16, "updates_per_chunk": 2}, 256,
                 id="jax_ppo"),
    pytest.param("sb3_ppo", "ToyTank-v0", {}, 256, id="sb3_ppo", marks=pytest.mark.slow),
    pytest.param("sb3_sac", "ToyTank-v0", {}, 256, id="sb3_sac", marks=pytest.mark.slow),
    pytest.param("rllib_ppo", "ToyTank-v0", {}, 256, id="rllib_ppo", marks=pytest.mark.slow),
]


def _random_rollout_observations(twin: str, n: int = 10_000, n_envs: int = 100) -> np.ndarray:
    env, params = make(twin)
    keys = jax.random.split(jax.random.PRNGKey(123), n_envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    @jax.jit
    def step(t, state):
        k = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, t)
        action = jax.vmap(env.action_space(params).sample)(k)
        return jax.vmap(env.step, in_axes=(0, 0, 0, None))(k, state, action, params)[:2]

    out = []
    for t in range(n // n_envs):
        out.append(np.asarray(obs).reshape(n_envs, -1))
        obs, state = step(t, state)
    return np.concatenate(out).astype(np.float32)


@pytest.mark.parametrize(("backend", "twin", "agent", "steps"), BACKENDS)
def test_export_matches_backend(tmp_path, capsys, backend, twin, agent, steps):
    config = {"twin": twin, "total_steps": steps, "seed": 0, "agent": {"backend": backend, **agent},
              "eval": {"episodes": 2}, "run": {"root": str(tmp_path), "name": "run", "progress": False}}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    assert run_guarded(app, ["train", str(cfg)]) == 0, capsys.readouterr().err
    run_dir = tmp_path / "run"
    bundle_path = tmp_path / "bundle"
    assert run_guarded(app, ["export", str(run_dir), "-o", str(bundle_path)]) == 0, capsys.readouterr().err
    bundle = load_bundle(bundle_path)
    check = bundle.manifest.export_check
    assert check["n"] == 10_000 and check["metric"] == "max_abs_error_frac"
    assert check["value"] <= 1e-4 and check["passed"]
    assert bundle.manifest.backend.startswith(backend.split("_")[0])
    obs = _random_rollout_observations(twin)
    policy = OnnxPolicy(bundle.policy_bytes, action_shape=tuple(bundle.action_space().shape))
    err = action_error(policy.act(obs), agents.deterministic_actions(run_dir, obs), bundle.action_space())
    assert err["n"] == 10_000 and err["value"] <= 1e-4
