"""Adapters from the pure JAX env API to gymnasium, stable-baselines3 and RLlib.

- :class:`GymnasiumEnv`: one copy as a ``gymnasium.Env`` (numpy obs, python float reward, bool flags,
  seeding, ``render_mode="rgb_array"``). Registered as ``gymnasium.make("twingym/<Id>")``.
- :class:`JaxVectorEnv`: N copies as a ``gymnasium.vector.VectorEnv`` stepped in one jitted call.
  Same-step auto-reset by default (``final_obs``/``final_info`` in infos), next-step on request
  (RLlib's env runners expect it). Registered as ``gymnasium.make_vec("twingym/<Id>", num_envs=N)``.
- :class:`SB3VecEnv`: N copies as a stable-baselines3 ``VecEnv`` stepped in one jitted call, with
  ``terminal_observation`` and ``TimeLimit.truncated`` in infos.
- :func:`rllib_env_creator`: RLlib env creator (a vector env when RLlib asks for ``num_envs``).

None of them steps copies one by one in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from twingym.envs.core import TwinEnv
from twingym.envs.registry import make, register_portable

_SEED_LIMIT = 2**31 - 1


def _to_host(tree: Any) -> Any:
    return jax.tree.map(np.asarray, jax.device_get(tree))


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1)[0] % _SEED_LIMIT)


def _resolve(twin: str | TwinEnv, params: Any, overrides: dict[str, Any]) -> tuple[TwinEnv, Any]:
    if isinstance(twin, str):
        if params is not None:
            raise ValueError("pass either params or param overrides with a twin id, not both")
        return make(twin, **overrides)
    if overrides:
        params = twin.replace_params(twin.default_params() if params is None else params, **overrides)
    return twin, twin.default_params() if params is None else params


@partial(jax.jit, static_argnums=0)
def _single_reset(env: TwinEnv, key: jax.Array, params: Any):
    return env.reset(key, params)


@partial(jax.jit, static_argnums=0)
def _single_step(env: TwinEnv, key: jax.Array, state: Any, action: jax.Array, params: Any):
    return env.step(key, state, action, params)


@partial(jax.jit, static_argnums=(0, 3))
def _batch_reset(env: TwinEnv, key: jax.Array, params: Any, num_envs: int):
    keys = jax.random.split(key, num_envs)
    return jax.vmap(env.reset, in_axes=(0, None))(keys, params)


@partial(jax.jit, static_argnums=(0,))
def _batch_step(env: TwinEnv, key: jax.Array, state: Any, action: jax.Array, params: Any):
    keys = jax.random.split(key, action.shape[0])
    return jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)


def _cast_action(space: gymnasium.Space, action: Any, batch: int | None) -> jax.Array:
    shape = space.shape if batch is None else (batch, *space.shape)
    return jnp.asarray(np.asarray(action, dtype=space.dtype).reshape(shape))


class GymnasiumEnv(gymnasium.Env):
    """One twin copy as a ``gymnasium.Env``.

    Args:
        twin: registered id (``"WindFarm-v0"``) or a ``TwinEnv`` instance.
        params: the twin's params (defaults when omitted).
        render_mode: ``None`` or ``"rgb_array"``.
        **param_overrides: applied to the params (unknown names raise ``ValueError``).

    ``step`` returns the observation the episode ended on when it ends; call ``reset`` to start the
    next one (gymnasium's single-env contract). ``info["cost"]`` carries the twin's cost signal.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, twin: str | TwinEnv, params: Any = None, render_mode: str | None = None,
                 **param_overrides: Any) -> None:
        self.twin, self.params = _resolve(twin, params, param_overrides)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = self.twin.observation_space(self.params).to_gymnasium()
        self.action_space = self.twin.action_space(self.params).to_gymnasium()
        self._key: jax.Array | None = None
        self._state: Any = None

    def _next_key(self) -> jax.Array:
        if self._key is None:
            self._key = jax.random.key(_fresh_seed())
        self._key, sub = jax.random.split(self._key)
        return sub

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(int(seed) % _SEED_LIMIT)
        obs, self._state = _single_reset(self.twin, self._next_key(), self.params)
        return np.asarray(obs), {}

    def step(self, action: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = _cast_action(self.action_space, action, None)
        _, self._state, reward, terminated, truncated, info = _single_step(
            self.twin, self._next_key(), self._state, action, self.params)
        host = _to_host(info)
        obs = host.pop("final_observation")
        return obs, float(reward), bool(terminated), bool(truncated), host

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._state is None:
            return None
        return self.twin.render(jax.device_get(self._state), self.params)


class JaxVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` twin copies stepped in one jitted, vmapped call.

    Args:
        twin, params, **param_overrides: as :class:`GymnasiumEnv`.
        num_envs: batch size N.
        autoreset_mode: ``AutoresetMode.SAME_STEP`` (default: the reset observation comes back on the
            step that ended the episode; ``infos["final_obs"]`` holds the last one) or
            ``AutoresetMode.NEXT_STEP`` (the step after a done returns the reset observation with
            reward 0 and the action ignored).
    """

    def __init__(self, twin: str | TwinEnv, num_envs: int, params: Any = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
                 render_mode: str | None = None, **param_overrides: Any) -> None:
        self.twin, self.params = _resolve(twin, params, param_overrides)
        self.num_envs = int(num_envs)
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        if self.autoreset_mode not in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
            raise ValueError(f"unsupported autoreset mode {self.autoreset_mode}")
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": ["rgb_array"]}
        self.render_mode = render_mode
        self.single_observation_space = self.twin.observation_space(self.params).to_gymnasium()
        self.single_action_space = self.twin.action_space(self.params).to_gymnasium()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._key: jax.Array | None = None
        self._state: Any = None
        self._pending_reset = np.zeros(self.num_envs, dtype=bool)
        self._pending_obs: np.ndarray | None = None

    def _next_key(self) -> jax.Array:
        if self._key is None:
            self._key = jax.random.key(_fresh_seed())
        self._key, sub = jax.random.split(self._key)
        return sub

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        if seed is not None:
            first = seed[0] if isinstance(seed, Sequence) else seed
            self._key = jax.random.key(int(first) % _SEED_LIMIT)
        obs, self._state = _batch_reset(self.twin, self._next_key(), self.params, self.num_envs)
        self._pending_reset[:] = False
        return np.asarray(obs), {}

    def step(self, actions: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = _cast_action(self.single_action_space, actions, self.num_envs)
        prev_state = self._state
        obs, self._state, reward, terminated, truncated, info = _batch_step(
            self.twin, self._next_key(), prev_state, actions, self.params)
        obs, reward = np.array(obs), np.array(reward)
        terminated, truncated = np.array(terminated), np.array(truncated)
        host = _to_host(info)
        final_obs = host.pop("final_observation")
        done = terminated | truncated
        infos: dict[str, Any] = dict(host)
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            if done.any():
                infos["final_obs"] = np.array([final_obs[i] if d else None for i, d in enumerate(done)],
                                              dtype=object)
                infos["_final_obs"] = done.copy()
                infos["final_info"] = dict(host)
                infos["_final_info"] = done.copy()
            return obs, reward, terminated, truncated, infos
        # NEXT_STEP: a copy that finished on the previous call was already reset by the twin's
        # same-step auto-reset; now it reports that reset observation, reward 0, and its state stays.
        pending = self._pending_reset
        if pending.any():
            mask = jnp.asarray(pending)
            self._state = jax.tree.map(
                lambda new, old: jnp.where(jnp.reshape(mask, (-1,) + (1,) * (new.ndim - 1)), old, new),
                self._state, prev_state)
            obs[pending] = self._pending_obs[pending]
            reward[pending] = 0.0
            terminated &= ~pending
            truncated &= ~pending
            done &= ~pending
        self._pending_reset = done
        self._pending_obs = obs.copy()
        out_obs = np.where(done.reshape((-1,) + (1,) * (obs.ndim - 1)), final_obs, obs)
        return out_obs, reward, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array" or self._state is None:
            return None
        host = jax.device_get(self._state)
        return tuple(self.twin.render(jax.tree.map(lambda x, i=i: x[i], host), self.params)
                     for i in range(self.num_envs))


def make_gymnasium_env(twin_id: str, render_mode: str | None = None, **param_overrides: Any) -> GymnasiumEnv:
    """gymnasium ``entry_point`` of every twin: ``gymnasium.make("twingym/<Id>")``."""
    return GymnasiumEnv(twin_id, render_mode=render_mode, **param_overrides)


def make_vector_env(twin_id: str, num_envs: int = 1, render_mode: str | None = None,
                    autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
                    **param_overrides: Any) -> JaxVectorEnv:
    """gymnasium ``vector_entry_point``: ``gymnasium.make_vec("twingym/<Id>", num_envs=N)``."""
    return JaxVectorEnv(twin_id, num_envs=num_envs, render_mode=render_mode,
                        autoreset_mode=autoreset_mode, **param_overrides)


def rllib_env_creator(env_config: dict[str, Any]) -> gymnasium.Env | gymnasium.vector.VectorEnv:
    """RLlib env creator: ``tune.register_env("twingym", rllib_env_creator)``.

    ``env_config`` holds ``twin_id`` and optional ``param_overrides`` (dict), ``seed`` and ``twin`` (the
    :func:`~twingym.envs.registry.portable_spec` of the twin, so an env runner process registers a twin
    that is not built in, e.g. one from the user's own package). When RLlib asks for a vector env
    (``num_envs`` in the config) the batch is a :class:`JaxVectorEnv` in next-step auto-reset mode, the
    mode RLlib's env runners expect; otherwise a :class:`GymnasiumEnv`.
    """
    if env_config.get("twin"):
        register_portable(env_config["twin"])
    twin_id = env_config["twin_id"]
    overrides = dict(env_config.get("param_overrides") or {})
    if "num_envs" in env_config:
        env: Any = JaxVectorEnv(twin_id, num_envs=int(env_config["num_envs"]),
                                autoreset_mode=AutoresetMode.NEXT_STEP, **overrides)
    else:
        env = GymnasiumEnv(twin_id, **overrides)
    seed = env_config.get("seed")
    if seed is not None:
        worker = int(getattr(env_config, "worker_index", 0) or 0)
        env._key = jax.random.key((int(seed) * 1000 + worker) % _SEED_LIMIT)
    return env


def SB3VecEnv(twin: str | TwinEnv, num_envs: int, params: Any = None, seed: int | None = None,
              **param_overrides: Any):
    """``num_envs`` copies as a stable-baselines3 ``VecEnv`` stepped in one jitted call.

    Infos are one dict per copy with ``cost``, the twin's other info entries and, on the step that
    ends an episode, ``terminal_observation`` and ``TimeLimit.truncated`` (SB3's conventions).
    The class is imported lazily so that importing ``twingym.envs`` does not import torch.
    """
    from twingym.envs._sb3_vec_env import JaxSB3VecEnv

    return JaxSB3VecEnv(twin, num_envs, params=params, seed=seed, **param_overrides)
