"""Pure-JAX PPO in the PureJaxRL manner: rollout and update in one compiled function.

``make_train(hp, env, env_params, total_steps)`` returns a :class:`PPOTrain` holding

- ``init(key) -> state``: one :class:`RunnerState` per seed (leading axis ``num_seeds``);
- ``chunk(state) -> (state, metrics)``: ``updates_per_chunk`` PPO updates under one ``jit``
  (``lax.scan``), vmapped over seeds; ``metrics`` leaves have shape ``(num_seeds, updates_per_chunk)``;
- ``train(key) -> (state, metrics)``: the whole run in one compiled call (no logging).

The Python driver (``twingym.training``) calls ``chunk`` in a loop and logs, shows progress and
checkpoints between chunks; nothing inside a chunk touches the host. With several local devices the
env batch axis of the state is sharded across them (``jax.sharding``) and XLA partitions the chunk.

Networks are plain MLPs (:mod:`twingym.agents.networks`): a separate actor and critic, and

- ``Box`` actions: a Gaussian with state-independent ``log_std``; the sample ``a`` (unit scale) maps to
  the twin's units as ``low + (clip(a, -1, 1) + 1) / 2 * (high - low)`` (``scale_clip`` in
  ``PolicySpec``; ``clip`` of the raw sample when bounds are infinite);
- ``Discrete``: categorical logits; ``MultiDiscrete``: one categorical per component (logits concatenated).

Running observation statistics (and, optionally, reward-scale statistics) live in the train state,
so checkpoints and the exported policy carry them. Truncated episodes are bootstrapped with the value
of ``info["final_observation"]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from pydantic import BaseModel, ConfigDict, Field
from twingym.agents.networks import MLPParams, init_mlp, mlp_apply, mlp_to_dense_layers
from twingym.agents.normalization import CLIP, EPSILON, RunningStats
from twingym.agents.paired_baseline import PairedBaseline, PairedState
from twingym.agents.policy_spec import PolicySpec
from twingym.agents.sharding import batch_mesh, batch_sharding, replicated
from twingym.envs import spaces
from twingym.envs.core import TwinEnv
from twingym.envs.param_mixture import ParamMixture


class JaxPPOParams(BaseModel):
    """Hyperparameters of the pure-JAX PPO (the ``agent:`` section with ``backend: jax_ppo``)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["jax_ppo"] = "jax_ppo"
    num_envs: int = Field(64, gt=0, description="parallel env copies per seed")
    rollout_steps: int = Field(128, gt=0, description="steps per env between updates")
    num_epochs: int = Field(4, gt=0, description="passes over each rollout")
    num_minibatches: int = Field(4, gt=0, description="minibatches per epoch")
    learning_rate: float = Field(3e-4, gt=0, description="Adam step size")
    anneal_lr: bool = Field(True, description="decay the learning rate linearly to 0")
    gamma: float = Field(0.99, ge=0, le=1, description="discount")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE lambda")
    clip_eps: float = Field(0.2, gt=0, description="PPO ratio clip")
    ent_coef: float = Field(0.0, ge=0, description="entropy bonus weight")
    vf_coef: float = Field(0.5, ge=0, description="value loss weight")
    max_grad_norm: float = Field(0.5, gt=0, description="global gradient norm clip")
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 64], description="MLP hidden widths")
    activation: Literal["tanh", "relu"] = Field("tanh", description="hidden activation")
    init_log_std: float = Field(0.0, description="initial log std of the Gaussian head")
    init_first_category_logit: float = Field(
        0.0, description="initial bias of category 0 of each discrete action component (the actor's "
                         "output-layer bias): residual modes whose category 0 means 'as the baseline' start near it")
    paired_baseline: str | None = Field(
        None, description="a jittable baseline (a key of the twin's baselines) that drives a paired copy of every "
                          "training env on the same random numbers; PPO learns from the policy's reward minus the "
                          "paired copy's, which cancels the exogenous noise both share (agents.paired_baseline). Costs "
                          "a second twin step per env step; the logged episode return stays the policy's own")
    normalize_obs: bool = Field(True, description="running observation normalisation")
    normalize_rewards: bool = Field(True, description="scale rewards by the running return std")
    num_seeds: int = Field(1, gt=0, description="independent seeds trained in one vmapped call")
    updates_per_chunk: int = Field(10, gt=0, description="PPO updates per compiled chunk")

    def batch_sizes(self) -> tuple[tuple[int, str], tuple[int, str]]:
        """(twin copies stepped at once, samples held for one update), each with its config expression."""
        return ((self.num_envs * self.num_seeds, "agent.num_envs * agent.num_seeds"),
                (self.num_envs * self.rollout_steps * self.num_seeds,
                 "agent.num_envs * agent.rollout_steps * agent.num_seeds"))

    def batch_problem(self) -> str | None:
        """Why the rollout cannot be cut into ``num_minibatches`` equal minibatches, or None."""
        if (self.num_envs * self.rollout_steps) % self.num_minibatches:
            return (f"config key 'agent.num_minibatches': agent.num_envs * agent.rollout_steps "
                    f"({self.num_envs * self.rollout_steps}) must be divisible by it ({self.num_minibatches})")
        return None


# ---------------------------------------------------------------------------------------------
# Action heads
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionHead:
    """How network outputs become actions. ``kind``: "gaussian", "categorical" or "multi"."""

    kind: str
    out_dim: int
    action_shape: tuple[int, ...]
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    nvec: tuple[int, ...] | None = None

    @property
    def bounded(self) -> bool:
        return self.low is not None and bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    @property
    def transform(self) -> str:
        if self.kind == "gaussian":
            return "scale_clip" if self.bounded else "clip"
        return "argmax" if self.kind == "categorical" else "multi_argmax"

    def to_json(self) -> dict:
        return {"kind": self.kind, "out_dim": self.out_dim, "action_shape": list(self.action_shape),
                "low": None if self.low is None else self.low.tolist(),
                "high": None if self.high is None else self.high.tolist(),
                "nvec": None if self.nvec is None else list(self.nvec)}

    @classmethod
    def from_json(cls, d: dict) -> ActionHead:
        def arr(v):
            return None if v is None else np.asarray(v, np.float32)

        return cls(d["kind"], int(d["out_dim"]), tuple(d["action_shape"]), arr(d["low"]), arr(d["high"]),
                   None if d["nvec"] is None else tuple(int(n) for n in d["nvec"]))


def action_head(space: spaces.Space) -> ActionHead:
    """The head for a twin's action space (Box, Discrete or MultiDiscrete)."""
    if isinstance(space, spaces.Box):
        dim = int(np.prod(space.shape)) if space.shape else 1
        return ActionHead("gaussian", dim, tuple(space.shape), space.low_array.reshape(-1).astype(np.float32),
                          space.high_array.reshape(-1).astype(np.float32))
    if isinstance(space, spaces.Discrete):
        return ActionHead("categorical", int(space.n), (), nvec=(int(space.n),))
    if isinstance(space, spaces.MultiDiscrete):
        return ActionHead("multi", int(sum(space.nvec)), tuple(space.shape), nvec=tuple(space.nvec))
    raise ValueError(f"jax_ppo does not support action space {type(space).__name__}")


def first_category_bias(actor: MLPParams, head: ActionHead, logit: float) -> MLPParams:
    """``actor`` with the output bias of category 0 of each discrete component set to ``logit``
    (unchanged for a Gaussian head or ``logit == 0``). With near-zero output weights the initial
    probability of category 0 of a component with n categories is ``e^logit / (e^logit + n - 1)``."""
    if head.kind == "gaussian" or logit == 0.0:
        return actor
    firsts = np.concatenate([[0], np.cumsum(head.nvec)[:-1]]).astype(int)
    last = dict(actor[-1], b=actor[-1]["b"].at[firsts].set(logit))
    return [*actor[:-1], last]


def _split_logits(head: ActionHead, logits: jax.Array) -> list[jax.Array]:
    splits = np.cumsum(head.nvec)[:-1].tolist()
    return jnp.split(logits, splits, axis=-1)


def sample_action(head: ActionHead, key: jax.Array, out: jax.Array, log_std: jax.Array | None
                  ) -> tuple[jax.Array, jax.Array]:
    """Sample the raw action (Gaussian: unit-scale float; categorical: int) and its log prob."""
    if head.kind == "gaussian":
        std = jnp.exp(log_std)
        raw = out + std * jax.random.normal(key, out.shape)
        return raw, log_prob(head, out, log_std, raw)
    if head.kind == "categorical":
        a = jax.random.categorical(key, out, axis=-1)
        return a, log_prob(head, out, log_std, a)
    groups = _split_logits(head, out)
    keys = jax.random.split(key, len(groups))
    a = jnp.stack([jax.random.categorical(k, g, axis=-1) for k, g in zip(keys, groups, strict=True)], -1)
    return a, log_prob(head, out, log_std, a)


def log_prob(head: ActionHead, out: jax.Array, log_std: jax.Array | None, raw: jax.Array) -> jax.Array:
    """Log probability of raw actions ``raw`` under the head's distribution (batch,)."""
    if head.kind == "gaussian":
        z = (raw - out) / jnp.exp(log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
    if head.kind == "categorical":
        logp = jax.nn.log_softmax(out, axis=-1)
        return jnp.take_along_axis(logp, raw[..., None].astype(jnp.int32), axis=-1)[..., 0]
    total = 0.0
    for i, g in enumerate(_split_logits(head, out)):
        logp = jax.nn.log_softmax(g, axis=-1)
        total = total + jnp.take_along_axis(logp, raw[..., i : i + 1].astype(jnp.int32), axis=-1)[..., 0]
    return total


def entropy(head: ActionHead, out: jax.Array, log_std: jax.Array | None) -> jax.Array:
    """Entropy of the head's distribution (batch,)."""
    if head.kind == "gaussian":
        ent = jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e))
        return jnp.broadcast_to(ent, out.shape[:-1])
    groups = [out] if head.kind == "categorical" else _split_logits(head, out)
    total = 0.0
    for g in groups:
        logp = jax.nn.log_softmax(g, axis=-1)
        total = total - jnp.sum(jnp.exp(logp) * logp, axis=-1)
    return total


def to_env_action(head: ActionHead, raw: jax.Array) -> jax.Array:
    """Raw action (batch, ...) -> action in the twin's units and shape."""
    batch = raw.shape[:-1] if head.kind != "categorical" else raw.shape
    if head.kind == "gaussian":
        if head.bounded:
            low, high = jnp.asarray(head.low), jnp.asarray(head.high)
            act = low + (jnp.clip(raw, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
        elif head.low is not None:
            act = jnp.clip(raw, jnp.asarray(head.low), jnp.asarray(head.high))
        else:
            act = raw
        return act.reshape(*batch, *head.action_shape).astype(jnp.float32)
    return raw.astype(jnp.int32).reshape(*batch, *head.action_shape)


def deterministic_raw(head: ActionHead, out: jax.Array) -> jax.Array:
    """Mode of the distribution as a raw action."""
    if head.kind == "gaussian":
        return out
    if head.kind == "categorical":
        return jnp.argmax(out, axis=-1)
    return jnp.stack([jnp.argmax(g, axis=-1) for g in _split_logits(head, out)], -1)


# ---------------------------------------------------------------------------------------------
# Train state
# ---------------------------------------------------------------------------------------------


@struct.dataclass
class RunnerState:
    """Everything one seed's training needs; a pytree saved whole in checkpoints.

    ``N`` = ``num_envs``; ``D`` = flattened observation length.
    """

    params: dict            # {"actor": MLP, "critic": MLP, "log_std": (A,) (Gaussian only)}
    opt_state: Any
    obs_stats: RunningStats  # (D,)
    ret_stats: RunningStats  # () running variance of the discounted return (reward scaling)
    env_state: Any          # twin state, leading axis N
    obs: jax.Array          # (N, D) raw observation
    disc_return: jax.Array  # (N,) discounted return so far (reward scaling)
    ep_return: jax.Array    # (N,) undiscounted return of the running episode
    ep_cost: jax.Array      # (N,) summed cost of the running episode
    ep_length: jax.Array    # (N,) steps of the running episode
    key: jax.Array          # (2,) uint32
    update: jax.Array       # () int32, updates done
    paired: PairedState | None = None   # paired copies (``paired_baseline``), leading axis N
    ep_excess: jax.Array | None = None  # (N,) return of the running episode over the paired copy's


#: RunnerState fields whose leading axis is the env batch (sharded across devices).
ENV_BATCH_FIELDS = ("env_state", "obs", "disc_return", "ep_return", "ep_cost", "ep_length", "paired", "ep_excess")


class Transition(struct.PyTreeNode):
    obs: jax.Array
    raw_obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    ep_done: jax.Array
    ep_return: jax.Array
    ep_cost: jax.Array
    ep_length: jax.Array
    ep_excess: jax.Array | None = None   # with a paired baseline only


class LearnBatch(struct.PyTreeNode):
    """The per-sample inputs of the PPO loss (normalised observation, raw action, its log prob, value)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array


@dataclass
class PPOTrain:
    """Compiled pieces of one configured run (see module docstring)."""

    init: Callable[[jax.Array], RunnerState]
    chunk: Callable[[RunnerState], tuple[RunnerState, dict]]
    train: Callable[[jax.Array], tuple[RunnerState, dict]]
    head: ActionHead
    obs_dim: int
    num_chunks: int
    updates_per_chunk: int
    steps_per_update: int  # env steps per update per seed (num_envs * rollout_steps)
    sharding: Any = None   # RunnerState-shaped tree of shardings, or None on one device
    learner_flops: Callable[[], float] | None = None  # flops of one update's epochs, per seed

    @property
    def total_steps(self) -> int:
        return self.num_chunks * self.updates_per_chunk * self.steps_per_update


def plan(hp: JaxPPOParams, total_steps: int) -> tuple[int, int]:
    """``(num_chunks, updates_per_chunk)`` covering ``total_steps`` (rounded up to whole chunks)."""
    steps_per_update = hp.num_envs * hp.rollout_steps
    total_updates = max(1, math.ceil(total_steps / steps_per_update))
    upc = min(hp.updates_per_chunk, total_updates)
    return math.ceil(total_updates / upc), upc


def make_train(hp: JaxPPOParams, env: TwinEnv, env_params: Any, total_steps: int,
               shard: bool | None = None, mixture: ParamMixture | None = None) -> PPOTrain:
    """Build the PPO functions for ``env`` with ``env_params``; see the module docstring.

    ``mixture`` (from :func:`twingym.envs.param_mixture.mix_params`, ``num_envs`` copies) gives each
    copy its own parameters (domain randomisation over scenarios); ``env_params`` still defines the
    spaces.
    """
    if mixture is not None and mixture.num_envs != hp.num_envs:
        raise ValueError(f"the parameter mixture is for {mixture.num_envs} copies, agent.num_envs is {hp.num_envs}")
    run_params, params_axes = (mixture.params, mixture.axes) if mixture is not None else (env_params, None)
    obs_space = env.observation_space(env_params)
    obs_dim = int(np.prod(obs_space.shape)) if obs_space.shape else 1
    head = action_head(env.action_space(env_params))
    num_chunks, upc = plan(hp, total_steps)
    total_updates = num_chunks * upc
    n, t = hp.num_envs, hp.rollout_steps
    batch = n * t
    if batch % hp.num_minibatches:
        raise ValueError(f"agent.num_envs * agent.rollout_steps ({batch}) must be divisible by "
                         f"agent.num_minibatches ({hp.num_minibatches})")
    mb_size = batch // hp.num_minibatches
    gaussian = head.kind == "gaussian"
    pairing = (PairedBaseline.create(env, env_params, hp.paired_baseline, run_params, params_axes)
               if hp.paired_baseline is not None else None)

    if hp.anneal_lr:
        lr = optax.linear_schedule(hp.learning_rate, 0.0, total_updates * hp.num_epochs * hp.num_minibatches)
    else:
        lr = hp.learning_rate
    tx = optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr, eps=1e-5))

    def lr_at(update: jax.Array) -> jax.Array:
        if not hp.anneal_lr:
            return jnp.asarray(hp.learning_rate, jnp.float32)
        return hp.learning_rate * (1.0 - update.astype(jnp.float32) / total_updates)

    def flat(obs):
        return obs.reshape(obs.shape[0], -1).astype(jnp.float32)

    def norm(stats: RunningStats, obs):
        return stats.normalise(obs) if hp.normalize_obs else obs

    def forward(params, x):
        out = mlp_apply(params["actor"], x, hp.activation)
        value = mlp_apply(params["critic"], x, hp.activation)[..., 0]
        return out, params.get("log_std"), value

    def init_one(key: jax.Array) -> RunnerState:
        k_actor, k_critic, k_env, k_run = jax.random.split(key, 4)
        sizes = [obs_dim, *hp.hidden_sizes]
        params = {"actor": first_category_bias(init_mlp(k_actor, [*sizes, head.out_dim], out_scale=0.01),
                                               head, hp.init_first_category_logit),
                  "critic": init_mlp(k_critic, [*sizes, 1], out_scale=1.0)}
        if gaussian:
            params["log_std"] = jnp.full((head.out_dim,), hp.init_log_std, jnp.float32)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, params_axes))(jax.random.split(k_env, n), run_params)
        zeros = jnp.zeros((n,), jnp.float32)
        return RunnerState(params=params, opt_state=tx.init(params),
                           obs_stats=RunningStats.create((obs_dim,)), ret_stats=RunningStats.create(()),
                           env_state=env_state, obs=flat(obs), disc_return=zeros, ep_return=zeros,
                           ep_cost=zeros, ep_length=jnp.zeros((n,), jnp.int32), key=k_run,
                           update=jnp.asarray(0, jnp.int32),
                           paired=None if pairing is None else pairing.init(env_state, obs),
                           ep_excess=None if pairing is None else zeros)

    def env_step(rs: RunnerState, _):
        key, k_act, k_env = jax.random.split(rs.key, 3)
        obs_n = norm(rs.obs_stats, rs.obs)
        out, log_std, value = forward(rs.params, obs_n)
        raw, logp = sample_action(head, k_act, out, log_std)
        keys = jax.random.split(k_env, n)
        obs2, env_state, reward, term, trunc, info = jax.vmap(env.step, in_axes=(0, 0, 0, params_axes))(
            keys, rs.env_state, to_env_action(head, raw), run_params)
        done = term | trunc
        if pairing is None:
            paired_state, learned = None, reward
        else:   # learn from the reward over the paired copy's, on the same step keys
            paired_state, paired_reward = pairing.step(rs.paired, keys, done, env_state, obs2)
            learned = reward - paired_reward
        obs2 = flat(obs2)
        cost = info["cost"].astype(jnp.float32)
        # reward scaling by the running std of the discounted return (as SB3's VecNormalize)
        disc = rs.disc_return * hp.gamma + learned
        ret_stats = rs.ret_stats.update(disc) if hp.normalize_rewards else rs.ret_stats
        r = learned / jnp.sqrt(ret_stats.var + EPSILON) if hp.normalize_rewards else learned
        r = jnp.clip(r, -CLIP, CLIP) if hp.normalize_rewards else r
        # bootstrap truncated episodes from the value of the observation they reached (the critic
        # runs on those observations only in steps where some copy was truncated)
        final_value = jax.lax.cond(
            jnp.any(trunc),
            lambda: forward(rs.params, norm(rs.obs_stats, flat(info["final_observation"])))[2],
            lambda: jnp.zeros_like(value))
        r = r + hp.gamma * final_value * trunc
        ep_return = rs.ep_return + reward
        ep_cost = rs.ep_cost + cost
        ep_length = rs.ep_length + 1
        ep_excess = None if pairing is None else rs.ep_excess + learned
        tr = Transition(obs=obs_n, raw_obs=rs.obs, action=raw, log_prob=logp, value=value, reward=r,
                        done=done, ep_done=done, ep_return=ep_return, ep_cost=ep_cost, ep_length=ep_length,
                        ep_excess=ep_excess)
        keep = ~done
        rs = rs.replace(env_state=env_state, obs=obs2, ret_stats=ret_stats,
                        disc_return=jnp.where(done, 0.0, disc), ep_return=jnp.where(keep, ep_return, 0.0),
                        ep_cost=jnp.where(keep, ep_cost, 0.0), ep_length=jnp.where(keep, ep_length, 0),
                        key=key, paired=paired_state,
                        ep_excess=None if ep_excess is None else jnp.where(keep, ep_excess, 0.0))
        return rs, tr

    def gae(traj: Transition, last_value: jax.Array) -> tuple[jax.Array, jax.Array]:
        def step(carry, tr):
            adv_next, value_next = carry
            nonterminal = 1.0 - tr.done.astype(jnp.float32)
            delta = tr.reward + hp.gamma * value_next * nonterminal - tr.value
            adv = delta + hp.gamma * hp.gae_lambda * nonterminal * adv_next
            return (adv, tr.value), adv
        _, adv = jax.lax.scan(step, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
        return adv, adv + traj.value

    def loss_fn(params, mb: LearnBatch, adv, targets):
        out, log_std, value = forward(params, mb.obs)
        logp = log_prob(head, out, log_std, mb.action)
        ratio = jnp.exp(logp - mb.log_prob)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - hp.clip_eps, 1 + hp.clip_eps) * adv).mean()
        v_clipped = mb.value + jnp.clip(value - mb.value, -hp.clip_eps, hp.clip_eps)
        v_loss = 0.5 * jnp.maximum((value - targets) ** 2, (v_clipped - targets) ** 2).mean()
        ent = entropy(head, out, log_std).mean()
        total = pg + hp.vf_coef * v_loss - hp.ent_coef * ent
        approx_kl = ((ratio - 1) - jnp.log(ratio)).mean()
        clip_frac = (jnp.abs(ratio - 1) > hp.clip_eps).mean()
        return total, {"policy_loss": pg, "value_loss": v_loss, "entropy": ent, "approx_kl": approx_kl,
                       "clip_fraction": clip_frac}

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def sgd_step(carry, mb):
        """One minibatch: loss gradient, global-norm clip and Adam, on ``(params, opt_state)``."""
        params, opt_state = carry
        tr, a, tg = mb
        (_, aux), grads = grad_fn(params, tr, a, tg)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), aux

    def learner_flops() -> float:
        """Flops of the learner per update and seed (XLA's cost of one minibatch step, times
        ``num_epochs * num_minibatches``; the shuffle and GAE are not counted)."""
        rs = jax.eval_shape(init_one, jax.random.PRNGKey(0))
        action, _ = jax.eval_shape(lambda p: sample_action(head, jax.random.PRNGKey(0), jnp.zeros(
            (mb_size, head.out_dim)), p.get("log_std")), rs.params)
        mb = LearnBatch(obs=jax.ShapeDtypeStruct((mb_size, obs_dim), jnp.float32), action=action,
                        log_prob=jax.ShapeDtypeStruct((mb_size,), jnp.float32),
                        value=jax.ShapeDtypeStruct((mb_size,), jnp.float32))
        vec = jax.ShapeDtypeStruct((mb_size,), jnp.float32)
        cost = jax.jit(sgd_step).lower((rs.params, rs.opt_state), (mb, vec, vec)).compile().cost_analysis()
        if isinstance(cost, list | tuple):
            cost = cost[0] if cost else {}
        return float((cost or {}).get("flops", 0.0)) * hp.num_epochs * hp.num_minibatches

    def update_one(rs: RunnerState, _):
        rs, traj = jax.lax.scan(env_step, rs, None, length=t)
        _, _, last_value = forward(rs.params, norm(rs.obs_stats, rs.obs))
        adv, targets = gae(traj, last_value)
        obs_stats = rs.obs_stats.update(traj.raw_obs.reshape(batch, obs_dim)) if hp.normalize_obs \
            else rs.obs_stats

        # the fields the loss reads (the rest of the trajectory is for metrics)
        learn = LearnBatch(obs=traj.obs, action=traj.action, log_prob=traj.log_prob, value=traj.value)

        def epoch(carry, key):
            params, opt_state = carry
            perm = jax.random.permutation(key, batch)
            data = jax.tree.map(lambda x: x.reshape(batch, *x.shape[2:])[perm].reshape(
                hp.num_minibatches, mb_size, *x.shape[2:]), (learn, adv, targets))

            return jax.lax.scan(sgd_step, (params, opt_state), data)

        key, k_epochs = jax.random.split(rs.key)
        (params, opt_state), aux = jax.lax.scan(epoch, (rs.params, rs.opt_state),
                                                jax.random.split(k_epochs, hp.num_epochs))
        episodes = traj.ep_done.sum()
        safe = jnp.maximum(episodes, 1)
        nan = jnp.float32(jnp.nan)
        metrics = {k: v.mean() for k, v in aux.items()}
        metrics.update(
            episodes=episodes,
            episode_return=jnp.where(episodes > 0, (traj.ep_return * traj.ep_done).sum() / safe, nan),
            episode_cost=jnp.where(episodes > 0, (traj.ep_cost * traj.ep_done).sum() / safe, nan),
            episode_length=jnp.where(episodes > 0, (traj.ep_length * traj.ep_done).sum() / safe, nan),
            learning_rate=lr_at(rs.update),
            explained_variance=1.0 - jnp.var(targets - traj.value) / (jnp.var(targets) + 1e-8),
        )
        if gaussian:
            metrics["action_std"] = jnp.exp(params["log_std"]).mean()
        if pairing is not None:
            metrics["episode_return_over_baseline"] = jnp.where(
                episodes > 0, (traj.ep_excess * traj.ep_done).sum() / safe, nan)
        rs = rs.replace(params=params, opt_state=opt_state, obs_stats=obs_stats, key=key, update=rs.update + 1)
        return rs, metrics

    def chunk_one(rs: RunnerState):
        return jax.lax.scan(update_one, rs, None, length=upc)

    def over_seeds(fn):
        """``fn`` applied to each seed: ``vmap`` over the leading seed axis, or, with one seed, a
        plain call on the squeezed state (same values; a batch axis of one would turn every
        ``lax.cond`` of the twin on a batch-wide predicate, e.g. "any copy done", into a
        ``select`` that runs both branches)."""
        if hp.num_seeds > 1:
            return jax.vmap(fn)

        def single(tree):
            out = fn(jax.tree.map(lambda x: x[0], tree))
            return jax.tree.map(lambda x: x[None], out)
        return single

    def init(key: jax.Array) -> RunnerState:
        return over_seeds(init_one)(jax.random.split(key, hp.num_seeds))

    def train_all(key: jax.Array):
        def whole(rs):
            return jax.lax.scan(update_one, rs, None, length=total_updates)
        return over_seeds(whole)(init(key))

    sharding = None
    ndev = jax.device_count()  # every process's devices (jax.distributed), the local ones otherwise
    if jax.process_count() > 1 and n % ndev:
        raise ValueError(f"agent.num_envs ({n}) must be divisible by the {ndev} devices")
    mesh = batch_mesh(n, env)
    if shard is None:
        shard = mesh.size > 1
    if shard and mesh.size > 1:
        sharding = _state_sharding(jax.eval_shape(init, jax.random.PRNGKey(0)), mesh)
        replicated_sharding = replicated(mesh)
        init_jit = jax.jit(init, out_shardings=sharding)
        chunk_jit = jax.jit(over_seeds(chunk_one), in_shardings=(sharding,), out_shardings=(sharding, replicated_sharding),
                            donate_argnums=0)
    else:
        init_jit = jax.jit(init)
        chunk_jit = jax.jit(over_seeds(chunk_one), donate_argnums=0)
    return PPOTrain(init=init_jit, chunk=chunk_jit, train=jax.jit(train_all), head=head, obs_dim=obs_dim,
                    num_chunks=num_chunks, updates_per_chunk=upc, steps_per_update=batch, sharding=sharding,
                    learner_flops=learner_flops)


def _state_sharding(abstract: RunnerState, mesh) -> RunnerState:
    """Shardings: env-batch fields split along axis 1 (after the seed axis), the rest replicated."""
    tree = jax.tree.map(lambda _: replicated(mesh), abstract)
    split = batch_sharding(mesh, axis=1)
    return tree.replace(**{f: jax.tree.map(lambda _: split, getattr(abstract, f)) for f in ENV_BATCH_FIELDS})


# ---------------------------------------------------------------------------------------------
# Saving, loading, acting
# ---------------------------------------------------------------------------------------------


def save_state(path: str | Path, state: RunnerState) -> None:
    """Save the full train state pytree (all leaves, RNG key included) to ``path`` (.npz).

    ``state`` may already be on the host (numpy leaves, e.g. gathered from every process).
    """
    leaves = jax.tree.leaves(jax.device_get(state))
    np.savez(path, **{f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(leaves)})


def load_state(path: str | Path, template: RunnerState, sharding: Any = None) -> RunnerState:
    """Load a state saved by :func:`save_state` into the structure of ``template``."""
    with np.load(path) as data:
        leaves = [data[f"leaf_{i:05d}"] for i in range(len(data.files))]
    treedef = jax.tree.structure(template)
    if treedef.num_leaves != len(leaves):
        raise ValueError(f"checkpoint {path} does not match this config ({len(leaves)} arrays, "
                         f"expected {treedef.num_leaves})")
    for got, want in zip(leaves, jax.tree.leaves(template), strict=True):
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(f"checkpoint {path} does not match this config (array {got.shape} {got.dtype}, "
                             f"expected {want.shape} {want.dtype})")
    state = jax.tree.unflatten(treedef, leaves)
    if sharding is None:
        return jax.device_put(state)
    # each process places its own shards of the whole arrays (works with one or many processes)
    return jax.tree.map(lambda x, s: jax.make_array_from_callback(x.shape, s, lambda idx: x[idx]), state, sharding)


@dataclass
class JaxPolicy:
    """A trained JAX PPO policy: actor MLP, observation statistics and head (one seed)."""

    actor: MLPParams
    head: ActionHead
    obs_mean: np.ndarray | None  # None when observations were not normalised
    obs_var: np.ndarray | None
    activation: str = "tanh"

    @classmethod
    def from_state(cls, state: RunnerState, head: ActionHead, hp: JaxPPOParams, seed_index: int = 0
                   ) -> JaxPolicy:
        pick = jax.tree.map(lambda x: np.asarray(x[seed_index]), jax.device_get(state.params["actor"]))
        stats = jax.device_get(state.obs_stats)
        mean = np.asarray(stats.mean[seed_index]) if hp.normalize_obs else None
        var = np.asarray(stats.var[seed_index]) if hp.normalize_obs else None
        return cls(pick, head, mean, var, hp.activation)

    def save(self, directory: str | Path) -> None:
        """``policy.npz`` (actor layers, obs stats) + ``policy.json`` (head, activation)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"actor_{i}_{k}": np.asarray(v) for i, layer in enumerate(self.actor) for k, v in layer.items()}
        if self.obs_mean is not None:
            arrays["obs_mean"], arrays["obs_var"] = self.obs_mean, self.obs_var
        np.savez(directory / "policy.npz", **arrays)
        meta = {"head": self.head.to_json(), "activation": self.activation,
                "num_layers": len(self.actor), "normalize_obs": self.obs_mean is not None}
        (directory / "policy.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> JaxPolicy:
        directory = Path(directory)
        meta = json.loads((directory / "policy.json").read_text())
        with np.load(directory / "policy.npz") as data:
            actor = [{"w": jnp.asarray(data[f"actor_{i}_w"]), "b": jnp.asarray(data[f"actor_{i}_b"])}
                     for i in range(meta["num_layers"])]
            mean = data["obs_mean"] if meta["normalize_obs"] else None
            var = data["obs_var"] if meta["normalize_obs"] else None
        return cls(actor, ActionHead.from_json(meta["head"]), mean, var, meta["activation"])

    def act(self, obs: jax.Array) -> jax.Array:
        """Deterministic action for a batch ``(B, ...)`` of raw observations, in the twin's units."""
        x = obs.reshape(obs.shape[0], -1).astype(jnp.float32)
        if self.obs_mean is not None:
            x = jnp.clip((x - self.obs_mean) / jnp.sqrt(self.obs_var + EPSILON), -CLIP, CLIP)
        out = mlp_apply(self.actor, x, self.activation)
        return to_env_action(self.head, deterministic_raw(self.head, out))

    def policy_spec(self) -> PolicySpec:
        obs_dim = int(np.asarray(self.actor[0]["w"]).shape[0])
        if self.obs_mean is not None:
            mean, var, eps, clip = self.obs_mean, self.obs_var, EPSILON, CLIP
        else:
            mean, var, eps, clip = np.zeros(obs_dim, np.float32), np.ones(obs_dim, np.float32), 0.0, float("inf")
        h = self.head
        return PolicySpec(obs_dim=obs_dim, obs_mean=np.asarray(mean, np.float32),
                          obs_var=np.asarray(var, np.float32),
                          layers=mlp_to_dense_layers(self.actor, self.activation),  # type: ignore[arg-type]
                          action_transform=h.transform,  # type: ignore[arg-type]
                          action_low=h.low, action_high=h.high,
                          nvec=h.nvec if h.kind != "gaussian" else None,
                          obs_epsilon=eps, obs_clip=clip, backend="jax_ppo",
                          extra={"action_shape": list(h.action_shape)})


# ---- the final policy of a run directory (the backend's policy interface, see ``agents.backends``) -----------
def policy_spec(directory: str | Path) -> PolicySpec:
    """:class:`PolicySpec` of the policy saved in ``directory`` (a run's ``final/``)."""
    return JaxPolicy.load(directory).policy_spec()


def load_actor(directory: str | Path):
    """A jittable function ``obs (B, *obs_shape) -> actions`` of the policy saved in ``directory``."""
    return JaxPolicy.load(directory).act


def deterministic_actions(directory: str | Path, obs: np.ndarray) -> np.ndarray:
    """The policy's own deterministic actions on raw observations ``(B, *obs_shape)`` (host arrays)."""
    return np.asarray(load_actor(directory)(jnp.asarray(obs, jnp.float32)))
