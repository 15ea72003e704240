"""stable-baselines3 ``VecEnv`` over a batch of twin copies (see ``adapters.SB3VecEnv``).

Kept apart from ``adapters.py`` because importing stable-baselines3 imports torch.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv
from twingym.envs import _adapter_base as base
from twingym.envs.core import TwinEnv


class JaxSB3VecEnv(VecEnv):
    """``num_envs`` twin copies stepped in one jitted, vmapped call, with SB3's VecEnv contract."""

    def __init__(self, twin: str | TwinEnv, num_envs: int, params: Any = None, seed: int | None = None,
                 **param_overrides: Any) -> None:
        self.twin, self.params = base.resolve(twin, params, param_overrides)
        observation_space = self.twin.observation_space(self.params).to_gymnasium()
        action_space = self.twin.action_space(self.params).to_gymnasium()
        self.render_mode = "rgb_array"
        super().__init__(int(num_envs), observation_space, action_space)
        self._key = base.key_from_seed(seed)
        self._state: Any = None
        self._actions: jax.Array | None = None

    def _next_key(self) -> jax.Array:
        self._key, sub = jax.random.split(self._key)
        return sub

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._key = base.key_from_seed(self._seeds[0])
        self._reset_seeds()
        obs, self._state = base.batch_reset(self.twin, self._next_key(), self.params, self.num_envs)
        return np.asarray(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = base.cast_action(self.action_space, actions, self.num_envs)

    def step_wait(self):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        obs, self._state, reward, terminated, truncated, info = base.batch_step(
            self.twin, self._next_key(), self._state, self._actions, self.params)
        obs, reward = np.asarray(obs), np.asarray(reward, dtype=np.float32)
        terminated, truncated = np.asarray(terminated), np.asarray(truncated)
        host = base.to_host(info)
        final_obs = host.pop("final_observation")
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{k: v[i] for k, v in host.items()} for i in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = final_obs[i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, reward, dones, infos

    def close(self) -> None:
        self._state = None

    def get_images(self) -> list[np.ndarray]:
        host = jax.device_get(self._state)
        return [self.twin.render(jax.tree.map(lambda x, i=i: x[i], host), self.params)
                for i in range(self.num_envs)]

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        raise AttributeError(f"JaxSB3VecEnv copies have no per-copy method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
