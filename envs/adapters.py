"""Adapters from the pure JAX env API to gymnasium, stable-baselines3 and RLlib.

- :class:`GymnasiumEnv`: one copy as a ``gymnasium.Env`` (numpy obs, python float reward, bool flags,
  seeding, ``render_mode="rgb_array"``). Registered as ``gymnasium.make("twingym/<Id>")``.
- :class:`JaxVectorEnv` (``twingym.envs.vector_env``): N copies as a Gymnasium 1.x
  ``gymnasium.vector.VectorEnv`` stepped in one jitted call, equal to ``SyncVectorEnv`` over N
  ``GymnasiumEnv`` copies (next-step auto-reset by default, ``_<key>`` info masks, one seed per
  copy). Registered as ``gymnasium.make_vec("twingym/<Id>", num_envs=N)``.
- :class:`SB3VecEnv`: N copies as a stable-baselines3 ``VecEnv`` stepped in one jitted call, with
  ``terminal_observation`` and ``TimeLimit.truncated`` in infos.
- :func:`rllib_env_creator`: RLlib env creator (a vector env when RLlib asks for ``num_envs``).

None of them steps copies one by one in Python.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import numpy as np
from gymnasium.vector import AutoresetMode
from twingym.envs import _adapter_base as base
from twingym.envs.core import TwinEnv
from twingym.envs.registry import register_portable
from twingym.envs.vector_env import JaxVectorEnv

__all__ = ["GymnasiumEnv", "JaxVectorEnv", "SB3VecEnv", "make_gymnasium_env", "make_vector_env",
           "rllib_env_creator"]


class GymnasiumEnv(gymnasium.Env):
    """One twin copy as a ``gymnasium.Env``.

    Args:
        twin: registered id (``"WindFarm-v0"``) or a ``TwinEnv`` instance.
        params: the twin's params (defaults when omitted).
        render_mode: ``None`` or ``"rgb_array"``.
        **param_overrides: applied to the params (unknown names raise ``ValueError``).

    ``step`` returns the observation the episode ended on when it ends; call ``reset`` to start the
    next one (gymnasium's single-env contract). Info entries are Python scalars (0-d) or numpy
    arrays; ``info["cost"]`` carries the twin's cost signal. Non-finite float actions are replaced
    by the twin's safe action and counted (``info["nonfinite_action"]``, ``info["cost"]``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, twin: str | TwinEnv, params: Any = None, render_mode: str | None = None,
                 **param_overrides: Any) -> None:
        self.twin, self.params = base.resolve(twin, params, param_overrides)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = self.twin.observation_space(self.params).to_gymnasium()
        self.action_space = self.twin.action_space(self.params).to_gymnasium()
        self._key: jax.Array | None = None
        self._state: Any = None

    def _next_key(self) -> jax.Array:
        if self._key is None:
            self._key = base.key_from_seed(None)
        self._key, sub = jax.random.split(self._key)
        return sub

    def _set_seed(self, seed: int) -> None:
        self._key = base.key_from_seed(seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._set_seed(seed)
        obs, self._state = base.single_reset(self.twin, self._next_key(), self.params)
        return np.asarray(obs), {}

    def step(self, action: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = base.cast_action(self.action_space, action, None)
        _, self._state, reward, terminated, truncated, info = base.single_step(
            self.twin, self._next_key(), self._state, action, self.params)
        host = base.to_host(info)
        obs = host.pop("final_observation")
        return obs, float(reward), bool(terminated), bool(truncated), base.python_info(host)

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._state is None:
            return None
        return self.twin.render(jax.device_get(self._state), self.params)


def make_gymnasium_env(twin_id: str, render_mode: str | None = None, **param_overrides: Any) -> GymnasiumEnv:
    """gymnasium ``entry_point`` of every twin: ``gymnasium.make("twingym/<Id>")``."""
    return GymnasiumEnv(twin_id, render_mode=render_mode, **param_overrides)


def make_vector_env(twin_id: str, num_envs: int = 1, render_mode: str | None = None,
                    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                    max_episode_steps: int | None = None, **param_overrides: Any) -> JaxVectorEnv:
    """gymnasium ``vector_entry_point``: ``gymnasium.make_vec("twingym/<Id>", num_envs=N)``.

    ``max_episode_steps`` (which ``make_vec`` passes from the registration) sets the twin's
    ``max_steps`` unless that parameter is given explicitly, which wins.
    """
    if max_episode_steps is not None and "max_steps" not in param_overrides:
        param_overrides["max_steps"] = int(max_episode_steps)
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
        env._set_seed(int(seed) * 1000 + worker)
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
