"""Shared fixtures of the WindTurbine-v0 tests: one env, default params, a jitted rollout."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import pytest
from twingym.envs.wind_turbine import WindTurbine


@pytest.fixture(scope="session")
def env():
    return WindTurbine()


@pytest.fixture(scope="session")
def params(env):
    return env.default_params()


@partial(jax.jit, static_argnums=(0, 3, 4))
def rollout(env, params, keys, policy: str, num_steps: int):
    """Batched episodes (auto-reset on) under ``policy`` in {"baseline", "random", "idle"}.

    Returns a dict of ``(batch, num_steps)`` arrays: reward, cost, terminated, truncated, obs
    (``(batch, num_steps, 6)``) and the info signals (wind, power, rotor_speed, pitch, ...).
    """
    controller = env.baselines()[env.reference_baseline]
    space = env.action_space(params)

    def one(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)

        def body(carry, k):
            state, obs, c = carry
            k_act, k_step = jax.random.split(k)
            if policy == "baseline":
                action, c = controller.act(c, obs, params)
            elif policy == "random":
                action = space.sample(k_act)
            else:  # idle: no generator torque, fine pitch
                action = jnp.array([-1.0, -1.0])
            obs, state, reward, terminated, truncated, info = env.step(k_step, state, action, params)
            out = {"reward": reward, "terminated": terminated, "truncated": truncated, "obs": obs,
                   **{k: v for k, v in info.items() if k != "final_observation"}}
            return (state, obs, c), out

        (state, _, _), out = jax.lax.scan(body, (state, obs, controller.init(params)),
                                          jax.random.split(k_run, num_steps))
        return out, state

    return jax.vmap(one)(keys)
