"""``JaxVectorEnv``: N twin copies as a Gymnasium 1.x ``VectorEnv`` stepped in one jitted call.

It behaves exactly like ``gymnasium.vector.SyncVectorEnv`` over N
:class:`~twingym.envs.adapters.GymnasiumEnv` copies, without the Python loop:

- auto-reset: ``AutoresetMode.NEXT_STEP`` by default (Gymnasium 1.x's default, the only mode its
  vector observation wrappers such as ``NormalizeObservation`` accept): the step that ends an
  episode returns its last observation, the next call returns the first observation of a new
  episode with reward 0, both flags False and the action ignored. ``SAME_STEP`` returns the new
  episode's observation at once, with ``final_obs``/``final_info`` in the infos. ``DISABLED``
  leaves it to the caller: ``reset(options={"reset_mask": mask})`` resets the copies in ``mask``,
  and stepping a finished copy first raises.
- seeds: ``reset(seed=s)`` seeds copy ``i`` with ``s + i``, ``reset(seed=[s_0, ...])`` with
  ``s_i``; copy ``i`` then follows exactly the trajectory of a single env reset with that seed.
- infos: every key comes with its ``_<key>`` mask; 0-d entries are batched as float64, int64 or
  bool arrays (what ``SyncVectorEnv`` makes of a single env's Python scalars), and a copy that was
  reset rather than stepped has no entry (mask False, value 0). Rewards are float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from twingym.envs import _adapter_base as base
from twingym.envs.core import TwinEnv


def _python_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype ``SyncVectorEnv`` batches a single env's Python scalar of this kind into."""
    if np.issubdtype(dtype, np.bool_):
        return np.dtype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        return np.dtype(int)
    if np.issubdtype(dtype, np.complexfloating):
        return np.dtype(complex)
    return np.dtype(float)


def batch_infos(info: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Gymnasium vector infos of the copies in ``mask``: each key with its ``_<key>`` mask.

    ``info`` holds host arrays with a leading batch axis (nested dicts allowed). Copies outside
    ``mask`` get 0; a key is absent when no copy is in ``mask``.
    """
    out: dict[str, Any] = {}
    if not mask.any():
        return out
    for key, value in info.items():
        if isinstance(value, dict):
            out[key] = batch_infos(value, mask)
        else:
            value = np.asarray(value)
            dtype = _python_dtype(value.dtype) if value.ndim == 1 else value.dtype
            array = np.zeros(value.shape, dtype=dtype)
            array[mask] = value[mask]
            out[key] = array
        out[f"_{key}"] = mask.copy()
    return out


class JaxVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` twin copies stepped in one jitted, vmapped call.

    Args:
        twin: registered id (``"WindFarm-v0"``) or a ``TwinEnv`` instance.
        num_envs: batch size N.
        params: the twin's params (defaults when omitted).
        autoreset_mode: ``AutoresetMode`` or its value (``"NextStep"`` default, ``"SameStep"``,
            ``"Disabled"``), see the module docstring.
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` gives one image per copy).
        **param_overrides: applied to the params (unknown names raise ``ValueError``).
    """

    def __init__(self, twin: str | TwinEnv, num_envs: int, params: Any = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 render_mode: str | None = None, **param_overrides: Any) -> None:
        self.twin, self.params = base.resolve(twin, params, param_overrides)
        self.num_envs = int(num_envs)
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            valid = ", ".join(repr(m.value) for m in AutoresetMode)
            raise ValueError(f"autoreset_mode {autoreset_mode!r} is not one of {valid}") from None
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": ["rgb_array"]}
        self.render_mode = render_mode
        self.single_observation_space = self.twin.observation_space(self.params).to_gymnasium()
        self.single_action_space = self.twin.action_space(self.params).to_gymnasium()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._keys: jax.Array | None = None
        self._obs: Any = None
        self._state: Any = None
        #: copies whose episode ended on the last step (reset on the next, or refused when DISABLED)
        self._pending = np.zeros(self.num_envs, dtype=bool)

    def _seed_list(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int | np.integer):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset(seed=[...]) needs {self.num_envs} seeds (one per copy), got {len(seeds)}")
        return seeds

    def _set_seed(self, seed: int | Sequence[int | None] | None) -> None:
        """Re-seed the copies as ``reset(seed=...)`` does (None: keep each copy's key stream)."""
        seeds = self._seed_list(seed)
        fresh = base.keys_from_seeds(seeds)
        if self._keys is None:
            self._keys = fresh
        else:
            given = jnp.asarray([s is not None for s in seeds])
            self._keys = jnp.where(given, fresh, self._keys)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        """Reset every copy, or those in ``options["reset_mask"]`` ((N,) bool numpy array)."""
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is not None:
            if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (self.num_envs,)):
                raise ValueError(f"options['reset_mask'] must be a numpy bool array of shape ({self.num_envs},)")
            if not mask.any():
                raise ValueError("options['reset_mask'] selects no copy")
            if self._state is None:
                raise RuntimeError("call reset() without reset_mask before a masked reset")
        else:
            mask = np.ones(self.num_envs, dtype=bool)
        seeds = self._seed_list(seed)
        self._set_seed([s if m else None for s, m in zip(seeds, mask, strict=True)])
        if self._state is None:  # first reset: placeholders of the right structure, all replaced
            shapes = jax.eval_shape(jax.vmap(self.twin.reset, in_axes=(0, None)), self._keys, self.params)
            self._obs, self._state = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        self._keys, self._obs, self._state = base.vector_reset(
            self.twin, self._keys, self.params, jnp.asarray(mask), self._obs, self._state)
        self._pending &= ~mask
        return np.array(self._obs), {}

    def step(self, actions: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if self.autoreset_mode == AutoresetMode.DISABLED and self._pending.any():
            raise RuntimeError(f"copies {np.flatnonzero(self._pending).tolist()} finished their episode; "
                               "reset them with reset(options={'reset_mask': mask}) before stepping "
                               "(autoreset_mode is DISABLED)")
        actions = base.cast_action(self.single_action_space, actions, self.num_envs)
        pending = self._pending if self.autoreset_mode == AutoresetMode.NEXT_STEP else \
            np.zeros(self.num_envs, dtype=bool)
        same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
        self._keys, obs, self._state, reward, terminated, truncated, info, final_obs = base.vector_step(
            self.twin, self._keys, self._state, actions, self.params, jnp.asarray(pending), same_step)
        self._obs = obs
        obs, reward = np.array(obs), np.asarray(reward, dtype=np.float64)
        terminated, truncated = np.array(terminated), np.array(truncated)
        host = base.to_host(info)
        done = terminated | truncated
        if not same_step:
            self._pending = done
            return obs, reward, terminated, truncated, batch_infos(host, ~pending)
        infos = batch_infos(host, ~done)
        if done.any():
            final = np.full(self.num_envs, None, dtype=object)
            host_final_obs = np.asarray(final_obs)
            for i in np.flatnonzero(done):
                final[i] = host_final_obs[i]
            infos.update({"final_obs": final, "_final_obs": done.copy(),
                          "final_info": batch_infos(host, done), "_final_info": done.copy()})
        return obs, reward, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array" or self._state is None:
            return None
        host = jax.device_get(self._state)
        return tuple(self.twin.render(jax.tree.map(lambda x, i=i: x[i], host), self.params)
                     for i in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        self._state = self._obs = None
