"""Reference point: gymnax CartPole-v1 (a trivial JAX env) stepped the same way as our twins.

Each twin's jitted-scan throughput is reported against CartPole's at the same batch size, so the
ratio says how much heavier than a trivial env each twin is on this machine.
"""

from __future__ import annotations

from functools import partial

import jax

from twingym.bench.common import best_time


@partial(jax.jit, static_argnums=(0, 2, 3))
def _cartpole_scan(env, params, batch: int, steps: int, key):
    keys = jax.random.split(key, batch)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def body(state, k):
        k_act, k_step = jax.random.split(k)
        actions = jax.random.randint(k_act, (batch,), 0, 2)
        _, state, reward, _, _ = step(jax.random.split(k_step, batch), state, actions, params)[:5]
        return state, reward.sum()

    _, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
    return rewards.sum()


def cartpole_throughput(batch: int, steps: int = 100) -> float:
    """gymnax CartPole-v1 steps per second (``batch`` copies, ``steps`` per jitted scan, auto-reset on)."""
    import gymnax

    env, params = gymnax.make("CartPole-v1")
    key = jax.random.key(0)
    jax.block_until_ready(_cartpole_scan(env, params, batch, steps, key))
    seconds = best_time(lambda: jax.block_until_ready(_cartpole_scan(env, params, batch, steps, key)))
    return batch * steps / seconds
