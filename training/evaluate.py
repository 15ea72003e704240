"""Batched evaluation on common random numbers: every controller sees the same scenarios.

Episode ``i`` is driven by ``keys[i]``: ``k_reset, k_steps = split(keys[i])``; the episode starts
from ``env.reset(k_reset)`` and step ``t`` uses ``split(k_steps, num_steps)[t]``. The policy and every
baseline therefore face identical initial states, wind/demand draws and sensor noise (as far as
their actions leave the dynamics unchanged), so their paired return difference has a small variance.

- :func:`rollout`: one compiled call, episodes vmapped, steps scanned (jittable controllers).
- :func:`host_rollout`: the same episodes stepped batch-wise from Python, for controllers that act
  on the host (a torch policy, a scipy baseline).
- :func:`evaluate_controllers`: all of them on the same keys -> :class:`EvalResult` per name.
- :func:`paired_difference`: mean return difference vs a reference with a 95% interval.
- :func:`paired_table`: one controller minus every other, the rows of the paired table
  (:class:`twingym.stats.Difference`: mean, 95 % interval, n, verdict; oracles marked, listed last).

An episode ends at its first ``terminated | truncated``; rewards and costs after it are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.core import Baseline, TwinEnv

from twingym.stats import Difference, paired_differences, t_interval


@dataclass(frozen=True)
class HostPolicy:
    """A controller acting on a batch of numpy observations ``(B, *obs_shape) -> (B, *action_shape)``."""

    name: str
    act_batch: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ParamPolicy:
    """A jittable policy whose weights are traced inputs: ``apply(weights, obs) -> action`` (one copy).

    Build ``apply`` once and pass new ``weights`` each time: evaluations during training then reuse
    one compiled rollout instead of compiling a new closure per evaluation.
    """

    name: str
    apply: Callable[[Any, jax.Array], jax.Array]
    weights: Any


Controller = Baseline | HostPolicy | ParamPolicy


@dataclass
class EvalResult:
    """Per-episode figures of one controller: ``returns``, ``costs`` (summed), ``lengths``; (E,)."""

    name: str
    returns: np.ndarray
    costs: np.ndarray
    lengths: np.ndarray

    def summary(self) -> dict[str, float]:
        lo, hi = mean_ci(self.returns)
        return {"return_mean": float(self.returns.mean()), "return_ci_low": lo, "return_ci_high": hi,
                "cost_mean": float(self.costs.mean()), "length_mean": float(self.lengths.mean()),
                "episodes": len(self.returns)}


def episode_length(params: Any, default: int = 1000) -> int:
    """Steps to roll out per episode: the twin's ``params.max_steps`` when it has one."""
    return int(getattr(params, "max_steps", default))


def episode_keys(seed: int, episodes: int) -> jax.Array:
    """The ``(episodes, 2)`` keys of an evaluation (shared by every controller)."""
    return jax.random.split(jax.random.PRNGKey(seed), episodes)


def _split_episode_keys(keys: jax.Array, num_steps: int) -> tuple[jax.Array, jax.Array]:
    pair = jax.vmap(jax.random.split)(keys)  # (E, 2, 2)
    step_keys = jax.vmap(lambda k: jax.random.split(k, num_steps))(pair[:, 1])  # (E, T, 2)
    return pair[:, 0], step_keys


def rollout(env: TwinEnv, params: Any, policy: Baseline | ParamPolicy, keys: jax.Array, num_steps: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a jittable ``policy`` for ``len(keys)`` episodes of at most ``num_steps`` steps.

    ``policy`` is a :class:`Baseline` (``init``/``act``) or a :class:`ParamPolicy`.
    Returns ``(returns, costs, lengths)``, each (E,) numpy float32/int32.
    """
    if isinstance(policy, ParamPolicy):
        out = _rollout_jit(env, policy.apply, True, num_steps, keys, params, policy.weights)
    else:
        # init runs eagerly on concrete params (some baselines precompute tables on the host)
        out = _rollout_jit(env, policy.act, False, num_steps, keys, params, policy.init(params))
    return tuple(np.asarray(x) for x in out)


def _rollout_impl(env, act, param_mode, num_steps, keys, params, carry0):
    reset_keys, step_keys = _split_episode_keys(keys, num_steps)
    if param_mode:  # ParamPolicy: the carry is the weights, passed through unchanged
        apply = act

        def act(carry, obs, p):
            return apply(carry, obs), carry

    def episode(k_reset, k_steps):
        obs, state = env.reset(k_reset, params)
        carry = carry0

        def step(c, k):
            obs, state, carry, alive, ret, cost, length = c
            action, carry = act(carry, obs, params)
            obs, state, reward, term, trunc, info = env.step(k, state, action, params)
            ret = ret + jnp.where(alive, reward, 0.0)
            cost = cost + jnp.where(alive, info["cost"], 0.0)
            length = length + alive.astype(jnp.int32)
            alive = alive & ~(term | trunc)
            return (obs, state, carry, alive, ret, cost, length), None

        init_c = (obs, state, carry, jnp.asarray(True), jnp.float32(0), jnp.float32(0), jnp.int32(0))
        (_, _, _, _, ret, cost, length), _ = jax.lax.scan(step, init_c, k_steps)
        return ret, cost, length

    return jax.vmap(episode)(reset_keys, step_keys)


_rollout_jit = jax.jit(_rollout_impl, static_argnums=(0, 1, 2, 3))


def host_rollout(env: TwinEnv, params: Any, controller: Controller, keys: jax.Array, num_steps: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same episodes as :func:`rollout`, acting on the host (batched env step, host controller)."""
    reset_keys, step_keys = _split_episode_keys(keys, num_steps)
    e = len(keys)
    obs, state = _reset_batch(env, reset_keys, params)
    if isinstance(controller, Baseline):
        carries = [controller.init(params) for _ in range(e)]
    alive = np.ones(e, bool)
    ret, cost, length = np.zeros(e, np.float32), np.zeros(e, np.float32), np.zeros(e, np.int32)
    for t in range(num_steps):
        obs_np = np.asarray(obs)
        if isinstance(controller, HostPolicy):
            action = np.asarray(controller.act_batch(obs_np))
        else:
            acts = []
            for i in range(e):
                a, carries[i] = controller.act(carries[i], obs_np[i], params)
                acts.append(np.asarray(a))
            action = np.stack(acts)
        obs, state, reward, term, trunc, info = _step_batch(env, step_keys[:, t], state, jnp.asarray(action),
                                                            params)
        reward, c = np.asarray(reward), np.asarray(info["cost"])
        ret += np.where(alive, reward, 0.0).astype(np.float32)
        cost += np.where(alive, c, 0.0).astype(np.float32)
        length += alive
        alive &= ~(np.asarray(term) | np.asarray(trunc))
        if not alive.any():
            break
    return ret, cost, length


def _reset_batch(env, keys, params):
    return _reset_batch_jit(env, keys, params)


def _step_batch(env, keys, state, action, params):
    return _step_batch_jit(env, keys, state, action, params)


_reset_batch_jit = jax.jit(lambda env, k, p: jax.vmap(env.reset, in_axes=(0, None))(k, p), static_argnums=0)
_step_batch_jit = jax.jit(lambda env, k, s, a, p: jax.vmap(env.step, in_axes=(0, 0, 0, None))(k, s, a, p),
                          static_argnums=0)


def evaluate_controllers(env: TwinEnv, params: Any, controllers: dict[str, Controller], episodes: int,
                         seed: int, num_steps: int | None = None) -> dict[str, EvalResult]:
    """Every controller on the same ``episodes`` scenario keys (derived from ``seed``)."""
    num_steps = episode_length(params) if num_steps is None else num_steps
    keys = episode_keys(seed, episodes)
    results = {}
    for name, ctrl in controllers.items():
        if isinstance(ctrl, ParamPolicy) or (isinstance(ctrl, Baseline) and ctrl.jittable):
            r, c, n = rollout(env, params, ctrl, keys, num_steps)
        else:
            r, c, n = host_rollout(env, params, ctrl, keys, num_steps)
        results[name] = EvalResult(name, np.asarray(r, np.float64), np.asarray(c, np.float64), np.asarray(n))
    return results


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``x`` (both ends the mean with one value)."""
    mean, lo, hi = t_interval(x, level)
    return (mean, mean) if not np.isfinite(lo) else (lo, hi)


def paired_difference(a: EvalResult, b: EvalResult) -> dict[str, float]:
    """Return difference ``a - b`` per episode: mean, 95% interval, and whether it lies above zero."""
    d = a.returns - b.returns
    lo, hi = mean_ci(d)
    return {"mean": float(d.mean()), "ci_low": lo, "ci_high": hi, "better": bool(lo > 0)}


def paired_table(scenario: str, results: dict[str, EvalResult], subject: str,
                 oracles: Iterable[str] = ()) -> list[Difference]:
    """``subject`` minus every other controller of ``results`` (paired by episode): the other
    baselines first, then the oracles (marked)."""
    oracle_set = set(oracles)
    others = [n for n in results if n != subject and n not in oracle_set]
    others += [n for n in results if n != subject and n in oracle_set]
    return paired_differences(scenario, results[subject].returns, {n: results[n].returns for n in others},
                              oracle_set)


def results_table(results: dict[str, EvalResult], reference: str | None = None, title: str = "evaluation",
                  oracles: Iterable[str] = ()):
    """A rich table: mean return with 95% interval and mean cost per controller (the reference and
    the oracle baselines marked)."""
    oracle_set = set(oracles)
    from rich.table import Table

    table = Table(title=title)
    table.add_column("controller")
    table.add_column("mean return", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("mean cost", justify="right")
    table.add_column("mean length", justify="right")
    if reference in results:
        table.add_column(f"vs {reference} (95% interval)", justify="right")
    for name, res in results.items():
        s = res.summary()
        mark = " (reference)" if name == reference else " (oracle)" if name in oracle_set else ""
        row = [name + mark, f"{s['return_mean']:.3f}",
               f"[{s['return_ci_low']:.3f}, {s['return_ci_high']:.3f}]", f"{s['cost_mean']:.4f}",
               f"{s['length_mean']:.1f}"]
        if reference in results:
            if name == reference:
                row.append("")
            else:
                d = paired_difference(res, results[reference])
                row.append(f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
        table.add_row(*row)
    return table
