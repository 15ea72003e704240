"""What every adapter shares: twin resolution, seeding, action casting, host conversion, and the
jitted batch kernels (one compilation per twin, params structure and batch shape).

Two seeding schemes:
- one key per copy (:func:`keys_from_seeds`, :func:`vector_reset`, :func:`vector_step`): the
  gymnasium adapters, so that copy ``i`` of a vector env seeded with ``s_i`` follows exactly the
  trajectory of a single :class:`~twingym.envs.adapters.GymnasiumEnv` seeded with ``s_i``;
- one key for the batch (:func:`batch_reset`, :func:`batch_step`): the stable-baselines3 VecEnv.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.copies import select
from twingym.envs.core import TwinEnv
from twingym.envs.registry import make

#: seeds are taken modulo this (JAX keys are built from int32 seeds)
SEED_LIMIT = 2**31 - 1


def to_host(tree: Any) -> Any:
    """A pytree of device arrays as numpy arrays."""
    return jax.tree.map(np.asarray, jax.device_get(tree))


def fresh_seed() -> int:
    """A seed drawn from the OS entropy pool, in ``[0, SEED_LIMIT)``."""
    return int(np.random.SeedSequence().generate_state(1)[0] % SEED_LIMIT)


def key_from_seed(seed: int | None) -> jax.Array:
    """The JAX key of ``seed`` (a fresh one when None)."""
    return jax.random.key((fresh_seed() if seed is None else int(seed)) % SEED_LIMIT)


def keys_from_seeds(seeds: Sequence[int | None]) -> jax.Array:
    """One key per seed, each equal to :func:`key_from_seed` of it; shape ``(len(seeds),)``."""
    values = [(fresh_seed() if s is None else int(s)) % SEED_LIMIT for s in seeds]
    return jax.vmap(jax.random.key)(jnp.asarray(values, dtype=jnp.int32))


def resolve(twin: str | TwinEnv, params: Any, overrides: dict[str, Any]) -> tuple[TwinEnv, Any]:
    """``(env, params)`` from a registered id or an instance, with param overrides applied."""
    if isinstance(twin, str):
        if params is not None:
            raise ValueError("pass either params or param overrides with a twin id, not both")
        return make(twin, **overrides)
    if overrides:
        params = twin.replace_params(twin.default_params() if params is None else params, **overrides)
    return twin, twin.default_params() if params is None else params


def cast_action(space: gymnasium.Space, action: Any, batch: int | None) -> jax.Array:
    """``action`` as a device array of the space's dtype and shape (``(batch, *shape)`` if batched).

    Float actions may hold NaN or inf: the twin replaces those components by its safe action and
    counts them in ``info["cost"]`` (see ``twingym.envs.core``). An integer space cannot hold them,
    so a non-finite value sent for one raises ``ValueError``.
    """
    shape = space.shape if batch is None else (batch, *space.shape)
    raw = np.asarray(action)
    if (np.issubdtype(space.dtype, np.integer) and np.issubdtype(raw.dtype, np.inexact)
            and not np.all(np.isfinite(raw))):
        raise ValueError(f"non-finite action {raw.tolist()} for the integer action space {space}")
    return jnp.asarray(raw.astype(space.dtype, copy=False).reshape(shape))


def python_info(info: dict[str, Any]) -> dict[str, Any]:
    """One copy's host info with 0-d entries as Python scalars (``float``, ``int``, ``bool``)."""
    return {k: python_info(v) if isinstance(v, dict) else (v.item() if np.ndim(v) == 0 else v)
            for k, v in info.items()}


def _split_each(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Every copy's ``key, sub = split(key)``, as a single env advances its key."""
    pairs = jax.vmap(jax.random.split)(keys)
    return pairs[:, 0], pairs[:, 1]


@partial(jax.jit, static_argnums=0)
def single_reset(env: TwinEnv, key: jax.Array, params: Any):
    return env.reset(key, params)


@partial(jax.jit, static_argnums=0)
def single_step(env: TwinEnv, key: jax.Array, state: Any, action: jax.Array, params: Any):
    return env.step(key, state, action, params)


@partial(jax.jit, static_argnums=0)
def vector_reset(env: TwinEnv, keys: jax.Array, params: Any, mask: jax.Array, obs: Any, state: Any):
    """Reset the copies where ``mask``; the others keep ``keys``, ``obs`` and ``state``.

    Returns ``(keys, obs, state)``. ``obs``/``state`` may be the result of a previous reset when
    every copy is masked (their values are then not read).
    """
    new_keys, sub = _split_each(keys)
    new_obs, new_state = jax.vmap(env.reset, in_axes=(0, None))(sub, params)
    return select(mask, new_keys, keys), select(mask, new_obs, obs), select(mask, new_state, state)


@partial(jax.jit, static_argnums=(0, 6))
def vector_step(env: TwinEnv, keys: jax.Array, state: Any, action: jax.Array, params: Any,
                pending: jax.Array, same_step: bool):
    """One gymnasium vector step over per-copy keys.

    ``pending`` (N,) bool: copies whose episode ended on the previous call (next-step auto-reset):
    they are reset instead of stepped, with reward 0 and both flags False. ``same_step``: copies
    whose episode ends now are reset within this call (with their next key, as a single env's
    ``reset()`` would) and their observation is the new episode's first one.

    Returns ``(keys, obs, state, reward, terminated, truncated, info, final_obs)``; ``final_obs``
    is the observation this step reached before any reset, ``info`` lacks ``final_observation``.
    """
    keys, sub = _split_each(keys)
    _, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        sub, state, action, params)
    info = dict(info)
    final_obs = info.pop("final_observation")

    def reset_with(mask: jax.Array, reset_keys: jax.Array, obs: Any, state: Any):
        obs_r, state_r = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)
        return select(mask, obs_r, obs), select(mask, state_r, state)

    obs, state = jax.lax.cond(jnp.any(pending), lambda c: reset_with(pending, sub, *c), lambda c: c,
                              (final_obs, state))
    reward = jnp.where(pending, 0.0, reward)
    terminated, truncated = terminated & ~pending, truncated & ~pending
    if same_step:
        done = terminated | truncated

        def reset_done(carry):
            keys, obs, state = carry
            next_keys, reset_keys = _split_each(keys)
            return (select(done, next_keys, keys), *reset_with(done, reset_keys, obs, state))

        keys, obs, state = jax.lax.cond(jnp.any(done), reset_done, lambda c: c, (keys, obs, state))
    return keys, obs, state, reward, terminated, truncated, info, final_obs


@partial(jax.jit, static_argnums=(0, 3))
def batch_reset(env: TwinEnv, key: jax.Array, params: Any, num_envs: int):
    """Reset ``num_envs`` copies from one key; ``(obs, state)``."""
    keys = jax.random.split(key, num_envs)
    return jax.vmap(env.reset, in_axes=(0, None))(keys, params)


@partial(jax.jit, static_argnums=(0,))
def batch_step(env: TwinEnv, key: jax.Array, state: Any, action: jax.Array, params: Any):
    """Step every copy from one key, with the twin's own same-step auto-reset."""
    keys = jax.random.split(key, action.shape[0])
    return jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
