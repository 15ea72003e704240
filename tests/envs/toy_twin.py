"""A small test-only twin that exercises the env kit before (and beside) the real twins.

``ToyTank``: a water tank with level ``h`` (m) fed by a valve (action in [0, 1]) and drained by an
outlet; the level must track a reference that changes at random. One episode is ``max_steps`` steps;
it terminates early when the tank overflows. A discrete-action twin (``ToyTankDiscrete``) uses a
MultiDiscrete valve setting so the kit covers both kinds of action space.

Observation (float32, shape (3,)): [measured level (m, 0..2), reference level (m, 0..2), step/max_steps].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from twingym.envs import spaces
from twingym.envs.core import Baseline, Label, TwinEnv


@struct.dataclass
class TankState:
    level: jax.Array
    reference: jax.Array
    time: jax.Array


@struct.dataclass
class TankParams:
    inflow_gain: float = 0.08      # m per step at valve fully open
    outflow_coeff: float = 0.03    # m per step per sqrt(m)
    noise_std: float = 0.01        # m, level sensor noise
    max_steps: int = struct.field(pytree_node=False, default=100)


class ToyTank(TwinEnv[TankState, TankParams]):
    reference_baseline = "p_control"

    def default_params(self) -> TankParams:
        return TankParams()

    def _obs(self, key, state, params):
        noisy = state.level + params.noise_std * jax.random.normal(key)
        return jnp.stack([jnp.clip(noisy, 0.0, 2.0), state.reference,
                          state.time / params.max_steps]).astype(jnp.float32)

    def reset_env(self, key, params):
        k1, k2, k3 = jax.random.split(key, 3)
        state = TankState(level=jax.random.uniform(k1, (), minval=0.2, maxval=1.0),
                          reference=jax.random.uniform(k2, (), minval=0.5, maxval=1.5),
                          time=jnp.int32(0))
        return self._obs(k3, state, params), state

    def _valve(self, action):
        return jnp.clip(jnp.reshape(action, ()), 0.0, 1.0)

    def step_env(self, key, state, action, params):
        k_ref, k_change, k_obs = jax.random.split(key, 3)
        valve = self._valve(action)
        level = state.level + params.inflow_gain * valve - params.outflow_coeff * jnp.sqrt(
            jnp.maximum(state.level, 0.0))
        level = jnp.maximum(level, 0.0)
        change = jax.random.uniform(k_change) < 0.05
        reference = jnp.where(change, jax.random.uniform(k_ref, (), minval=0.5, maxval=1.5),
                              state.reference)
        new = TankState(level=level, reference=reference, time=state.time + 1)
        overflow = level > 2.0
        reward = -jnp.abs(level - state.reference) - 10.0 * overflow
        cost = jnp.maximum(level - 1.8, 0.0)
        truncated = new.time >= params.max_steps
        return (self._obs(k_obs, new, params), new, reward, overflow, truncated,
                {"cost": cost, "level": level})

    def observation_space(self, params):
        return spaces.Box(low=np.array([0.0, 0.0, 0.0]), high=np.array([2.0, 2.0, 1.0]))

    def action_space(self, params):
        return spaces.Box(low=0.0, high=1.0, shape=(1,))

    def observation_labels(self, params):
        return [Label("tank", "level", "m"), Label("tank", "reference", "m"),
                Label("twin", "episode_progress", "1")]

    def action_labels(self, params):
        return [Label("tank", "valve", "1")]

    def baselines(self):
        def act(carry, obs, params):
            return jnp.clip(0.5 + 2.0 * (obs[1] - obs[0]), 0.0, 1.0)[None], carry
        return {"p_control": Baseline("p_control", lambda p: (), act, description="proportional valve")}

    def render(self, state, params):
        img = np.full((64, 32, 3), 255, dtype=np.uint8)
        filled = int(np.clip(float(state.level) / 2.0, 0, 1) * 64)
        img[64 - filled:, :, :] = (40, 90, 200)
        return img


class ToyTankDiscrete(ToyTank):
    """Same tank with a MultiDiscrete action: (coarse in 0..2, fine in 0..4) -> valve = (c*5+f)/14."""

    reference_baseline = None

    def _valve(self, action):
        return (action[0] * 5 + action[1]).astype(jnp.float32) / 14.0

    def action_space(self, params):
        return spaces.MultiDiscrete((3, 5))

    def action_labels(self, params):
        return [Label("tank", "valve_coarse", "1"), Label("tank", "valve_fine", "1")]

    def baselines(self):
        return {}
