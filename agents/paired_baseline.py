"""A paired copy of every training env, run by a classical controller on the same random numbers.

PPO's advantage estimates carry every bit of the twin's exogenous noise: the wind's gusts and drift,
a day's demand, a station's breakdown. Where a policy's edge over a strong controller is small (a
degree of yaw held, one station switched off while starved), that noise hides it. A paired copy
cancels it: each training copy has a twin that starts from the same state, draws the same random
numbers (the same step keys) and is driven by a baseline, and the learner is fed the policy's reward
minus the paired copy's. The paired copy's reward does not depend on the policy's actions, so
subtracting it changes no expected policy gradient (it is a baseline in the policy-gradient sense);
what it removes is the part of the reward both controllers share.

The two copies stay on common random numbers as long as the twin draws a fixed set of numbers per
step whatever its state (every twin here does) and episodes end on time. When the policy's copy
starts a new episode, the paired copy takes that fresh state and its controller restarts, so a copy
that ends early (a trip) resynchronises the pair at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from twingym.envs import copies
from twingym.envs.core import Baseline, TwinEnv


@struct.dataclass
class PairedState:
    """The paired copies of ``N`` training envs: twin state, raw observation ``(N, *obs_shape)`` and
    the baseline's carry (leading axis ``N`` on every leaf)."""

    env_state: Any
    obs: jax.Array
    carry: Any


def resolve_baseline(env: TwinEnv, name: str) -> Baseline:
    """The jittable baseline ``name`` of ``env``; ``ValueError`` (one line, naming the config key)
    when it is unknown or runs on the host."""
    baselines = env.baselines()
    if name not in baselines:
        raise ValueError(f"config key 'agent.paired_baseline': {name!r} is not a baseline of {env.id or type(env).__name__} "
                         f"(one of {', '.join(sorted(baselines))})")
    base = baselines[name]
    if not base.jittable:
        raise ValueError(f"config key 'agent.paired_baseline': {name!r} runs on the host (not jittable) and cannot "
                         "step inside the compiled rollout; name a jittable baseline")
    return base


@dataclass(frozen=True)
class PairedBaseline:
    """Steps the paired copies beside the policy's; built once per training run.

    ``run_params`` / ``params_axes``: the params the policy's copies run on (a mixture's per-copy
    leaves and their ``in_axes``, or one params and ``None``). ``carry0``: the baseline's initial
    carry, built on the host from the twin's nominal params and shared by every copy (a carry that
    depends on the scenario, such as a lookup table, is the nominal one).
    """

    env: TwinEnv
    baseline: Baseline
    run_params: Any
    params_axes: Any
    carry0: Any
    obs_shape: tuple[int, ...]

    @classmethod
    def create(cls, env: TwinEnv, env_params: Any, name: str, run_params: Any, params_axes: Any) -> PairedBaseline:
        base = resolve_baseline(env, name)
        shape = tuple(env.observation_space(env_params).shape)
        return cls(env, base, run_params, params_axes, base.init(env_params), shape)

    def _fresh_carry(self, n: int) -> Any:
        return copies.broadcast(self.carry0, n)

    def init(self, env_state: Any, obs: jax.Array) -> PairedState:
        """The paired copies of ``N`` freshly reset copies: the same state and observation ``(N, ...)``."""
        n = obs.shape[0]
        return PairedState(env_state=env_state, obs=obs.reshape(n, *self.obs_shape), carry=self._fresh_carry(n))

    def step(self, paired: PairedState, keys: jax.Array, done: jax.Array, policy_state: Any,
             policy_obs: jax.Array) -> tuple[PairedState, jax.Array]:
        """One step of every paired copy on the policy copies' step ``keys`` ``(N, 2)``.

        ``done`` ``(N,)``: the policy copies whose episode just ended; their paired copies take
        ``policy_state`` / ``policy_obs`` (the fresh episode the policy's copy auto-reset to) and a
        fresh carry. Returns the new paired copies and their reward ``(N,)``, in the twin's reward units.
        """
        n = keys.shape[0]
        action, carry = jax.vmap(self.baseline.act, in_axes=(0, 0, self.params_axes))(
            paired.carry, paired.obs, self.run_params)
        obs, state, reward, _, _, _ = jax.vmap(self.env.step, in_axes=(0, 0, 0, self.params_axes))(
            keys, paired.env_state, action, self.run_params)
        stepped = PairedState(env_state=state, obs=obs, carry=carry)

        def sync() -> PairedState:
            fresh = PairedState(env_state=policy_state, obs=policy_obs.reshape(obs.shape).astype(obs.dtype),
                                carry=self._fresh_carry(n))
            return copies.select(done, fresh, stepped)

        # copies end their episodes together on most steps or not at all: select only when one does
        return jax.lax.cond(jnp.any(done), sync, lambda: stepped), reward.astype(jnp.float32)
