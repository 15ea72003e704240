"""The twin side of the live twin: one copy of a registered twin stepped by a jitted ``env.step``.

:class:`LiveTwin` knows nothing about OPC UA. Each :meth:`LiveTwin.step` takes the setpoints written
by clients since the previous step (possibly none), decides the action the twin applies, steps the
twin once and returns a :class:`StepOutcome` holding everything the server publishes and records.

Setpoint semantics (one value per flattened action component, in ``action_labels`` order):
- ``remote`` control mode: a component written by a client applies from the next step (source
  ``client``); a component nobody wrote keeps its last applied value (``held``); before any write the
  twin holds its initial setpoints (``initial``: the reference baseline's first action when the twin
  has one, else the middle of the action space).
- ``local`` control mode: the twin's own reference baseline controller drives it (source ``local``),
  computed here with the twin's own JAX baseline on the twin's own observation, the way a plant's local
  controller runs on its own sensors. A twin without baselines holds its last setpoints instead.

The baseline runs every step in either mode (its suggestion is published), so a switch to ``local``
is bumpless. Injected faults (:class:`Fault`) corrupt only the *published* measurements, never the
twin's state nor the baseline's input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs import spaces
from twingym.envs.core import Label, TwinEnv
from twingym.envs.registry import make
from twingym.live import contract

CONTROL_MODES = ("remote", "local")
FAULT_KINDS = ("nan", "freeze")


@dataclass(frozen=True)
class Fault:
    """A scheduled fault on the published data: ``kind`` from ``start`` (global step) for ``count`` steps.

    ``nan``: every published measurement reads NaN. ``freeze``: nothing is published (measurements,
    step counter and simulated time stay frozen), as with a stuck data feed; the twin keeps stepping.
    Spelled ``KIND@START:COUNT`` on the command line (e.g. ``nan@50:10``).
    """

    kind: str
    start: int
    count: int

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} unknown; use one of {', '.join(FAULT_KINDS)}")
        if self.start < 0 or self.count < 1:
            raise ValueError(f"fault {self.kind}@{self.start}:{self.count}: start >= 0 and count >= 1")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Parse ``KIND@START:COUNT``; raises ``ValueError`` with the expected form."""
        try:
            kind, rest = text.split("@", 1)
            start, count = rest.split(":", 1)
            return cls(kind.strip(), int(start), int(count))
        except (ValueError, TypeError) as exc:
            if "fault kind" in str(exc) or "start >=" in str(exc):
                raise
            raise ValueError(f"fault {text!r} must look like KIND@START:COUNT, e.g. nan@50:10") from None

    def active(self, step: int) -> bool:
        return self.start <= step < self.start + self.count


@dataclass
class StepOutcome:
    """What one live step produced (host numpy / python values).

    ``step``: global step count since the server started (the step just taken, 1-based).
    ``obs``: the twin's own observation after the step, float64 (obs_dim,).
    ``published``: the measurements as published (equal to ``obs`` unless a fault is active).
    ``action``: the setpoints applied during this step, float64 (action_dim,); ``source`` one string
    per component (``client``/``held``/``initial``/``local``). ``baseline_action``: the reference
    baseline's suggestion for the next step (NaN-filled when the twin has no baseline).
    """

    step: int
    episode: int
    episode_step: int
    sim_time: float
    obs: np.ndarray
    published: np.ndarray
    action: np.ndarray
    source: list[str]
    mode: str
    reward: float
    cost: float
    terminated: bool
    truncated: bool
    episode_return: float
    last_episode_return: float | None
    total_reward: float
    baseline_action: np.ndarray
    faults: list[str]
    frozen: bool
    rejected: list[int] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


#: twin id -> (env, jitted step, jitted reset): one compilation per twin and params structure per
#: process, however many live twins are started (tests, a pipeline restarting its server).
_COMPILED: dict[str, tuple[TwinEnv, Any, Any]] = {}


def _compiled(twin_id: str) -> tuple[TwinEnv, Any, Any]:
    if twin_id not in _COMPILED:
        env, _ = make(twin_id)
        _COMPILED[twin_id] = (env, jax.jit(env.step), jax.jit(env.reset))
    return _COMPILED[twin_id]


def _flat_size(space: spaces.Space) -> int:
    return int(np.prod(space.shape)) if space.shape else 1


def action_bounds(space: spaces.Space) -> tuple[np.ndarray, np.ndarray, str]:
    """Flattened ``(low, high, kind)`` of an action space; kind is ``box``, ``discrete``, ``multidiscrete``.

    Read from the space's JSON description (:mod:`twingym.live.contract`), the same rule the deploy
    client applies to a bundle manifest.
    """
    try:
        bounds = contract.space_bounds(contract.space_to_json(space))
    except ValueError:
        raise TypeError(f"unsupported action space {type(space).__name__}") from None
    return bounds.low, bounds.high, bounds.kind


def _state_dict(state: Any) -> dict[str, Any]:
    """Flatten a state pytree to ``{path: list}`` for the record."""
    out: dict[str, Any] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        try:
            if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                leaf = jax.random.key_data(leaf)
        except AttributeError:
            pass
        out[jax.tree_util.keystr(path)] = np.asarray(leaf).tolist()
    return out


class LiveTwin:
    """One copy of ``twin_id`` stepped in host-driven time.

    Args:
        twin_id: a registered twin id.
        seed: PRNG seed of the twin (episodes and noise).
        scenario: a key of ``env.scenarios()``; its parameter overrides are applied.
        overrides: further parameter overrides (after the scenario's).
        dt: simulated seconds per step; default ``params.dt`` when the twin has it, else 1.0.
        baseline: baseline used in ``local`` mode; default the twin's ``local_controller`` (or the
            first of ``baselines()``); ``None`` when the twin has none.
        faults: scheduled faults on the published measurements.
        record_state: include the flattened state in each outcome (for the record).
    """

    def __init__(self, twin_id: str, *, seed: int = 0, scenario: str = "nominal",
                 overrides: dict[str, Any] | None = None, dt: float | None = None,
                 baseline: str | None = None, faults: list[Fault] | tuple[Fault, ...] = (),
                 record_state: bool = True) -> None:
        env, self._step_fn, reset_fn = _compiled(twin_id)
        scenarios = env.scenarios()
        if scenario not in scenarios:
            raise ValueError(f"twin {twin_id} has no scenario {scenario!r}; "
                             f"known: {', '.join(sorted(scenarios))}")
        self.env: TwinEnv = env
        _, self.params = make(twin_id, **{**scenarios[scenario], **(overrides or {})})
        self.twin_id, self.scenario, self.seed = twin_id, scenario, int(seed)
        self.dt = float(dt if dt is not None else getattr(self.params, "dt", 1.0))
        if not self.dt > 0:
            raise ValueError(f"dt must be > 0, got {self.dt}")
        self.obs_space = self.env.observation_space(self.params)
        self.act_space = self.env.action_space(self.params)
        self.obs_labels: list[Label] = list(self.env.observation_labels(self.params))
        self.act_labels: list[Label] = list(self.env.action_labels(self.params))
        if len(self.obs_labels) != _flat_size(self.obs_space):
            raise ValueError(f"{twin_id}: {len(self.obs_labels)} observation labels for "
                             f"{_flat_size(self.obs_space)} observation components")
        if len(self.act_labels) != _flat_size(self.act_space):
            raise ValueError(f"{twin_id}: {len(self.act_labels)} action labels for "
                             f"{_flat_size(self.act_space)} action components")
        self.action_low, self.action_high, self.action_kind = action_bounds(self.act_space)
        self.faults = list(faults)
        self.record_state = record_state

        baselines = self.env.baselines()
        name = baseline or self.env.local_controller(self.params) or next(iter(baselines), None)
        if baseline is not None and baseline not in baselines:
            raise ValueError(f"twin {twin_id} has no baseline {baseline!r}; "
                             f"known: {', '.join(sorted(baselines)) or 'none'}")
        self.baseline_name: str | None = name if name in baselines else None
        self._baseline = baselines.get(self.baseline_name) if self.baseline_name else None
        if self._baseline is not None and self._baseline.jittable:
            key = f"{twin_id}:baseline:{self.baseline_name}"
            if key not in _COMPILED:
                _COMPILED[key] = (env, jax.jit(self._baseline.act), None)
            self._baseline_act = _COMPILED[key][1]
        elif self._baseline is not None:
            self._baseline_act = self._baseline.act

        self._key = jax.random.PRNGKey(self.seed)
        self._key, k_reset = jax.random.split(self._key)
        obs, self._state = reset_fn(k_reset, self.params)
        self.obs = np.asarray(obs, dtype=np.float64).ravel()
        self._carry = self._baseline.init(self.params) if self._baseline is not None else None
        self.baseline_action = self._next_baseline_action()

        if self._baseline is not None:
            initial = self.baseline_action.copy()
        else:
            low, high = self.action_low, self.action_high
            mid = np.where(np.isfinite(low) & np.isfinite(high), (low + high) / 2,
                           np.clip(0.0, low, high))
            initial = np.round(mid) if self.action_kind != "box" else mid
        self.setpoints = initial.astype(np.float64)
        # compile the step now (a throw-away step), not while clients wait on the first one
        jax.block_until_ready(self._step_fn(self._key, self._state, self._to_env_action(self.setpoints),
                                            self.params))
        self.sources = ["initial"] * len(self.act_labels)
        self.mode = "remote"
        self.step_count = 0
        self.episode = 0
        self.episode_step = 0
        self.episode_return = 0.0
        self.last_episode_return: float | None = None
        self.total_reward = 0.0
        self.published = self.obs.copy()
        self.frozen = False

    # ---- helpers ---------------------------------------------------------------------------------
    def _next_baseline_action(self) -> np.ndarray:
        """The baseline's action for the current observation (advances its carry)."""
        n = len(self.act_labels)
        if self._baseline is None:
            return np.full(n, np.nan)
        obs = jnp.asarray(self.obs.reshape(self.obs_space.shape), dtype=self.obs_space.dtype)
        action, self._carry = self._baseline_act(self._carry, obs, self.params)
        return np.asarray(action, dtype=np.float64).ravel()

    def _to_env_action(self, values: np.ndarray) -> jax.Array:
        if self.action_kind == "box":
            return jnp.asarray(values.reshape(self.act_space.shape), dtype=self.act_space.dtype)
        return jnp.asarray(np.round(values).reshape(self.act_space.shape), dtype=self.act_space.dtype)

    def set_mode(self, mode: str) -> None:
        if mode not in CONTROL_MODES:
            raise ValueError(f"control mode must be one of {CONTROL_MODES}, got {mode!r}")
        self.mode = mode

    def clean_setpoint(self, index: int, value: float) -> float | None:
        """Plant-side check of a client setpoint: ``None`` (rejected) when non-finite, else clipped."""
        if not np.isfinite(value):
            return None
        value = float(np.clip(value, self.action_low[index], self.action_high[index]))
        return float(np.round(value)) if self.action_kind != "box" else value

    # ---- the step --------------------------------------------------------------------------------
    def step(self, written: dict[int, float] | None = None) -> StepOutcome:
        """Apply the setpoints, step the twin once, return what to publish and record.

        Args:
            written: component index -> value written by a client since the previous step.
        """
        written = written or {}
        rejected: list[int] = []
        if self.mode == "local" and self._baseline is not None:
            self.setpoints = self.baseline_action.copy()
            self.sources = ["local"] * len(self.sources)
        else:
            for i in range(len(self.sources)):
                if self.mode == "local":
                    self.sources[i] = "local"   # no baseline: local control holds the setpoints
                elif i in written:
                    value = self.clean_setpoint(i, written[i])
                    if value is None:
                        rejected.append(i)
                        self.sources[i] = "held" if self.sources[i] != "initial" else "initial"
                    else:
                        self.setpoints[i] = value
                        self.sources[i] = "client"
                elif self.sources[i] != "initial":
                    self.sources[i] = "held"
        applied = self.setpoints.copy()
        sources = list(self.sources)

        self._key, k_step = jax.random.split(self._key)
        obs, self._state, reward, terminated, truncated, info = self._step_fn(
            k_step, self._state, self._to_env_action(applied), self.params)
        reward, cost = float(reward), float(info["cost"])
        terminated, truncated = bool(terminated), bool(truncated)
        self.obs = np.asarray(obs, dtype=np.float64).ravel()
        self.step_count += 1
        self.episode_step += 1
        self.episode_return += reward
        self.total_reward += reward
        episode, episode_step, episode_return = self.episode, self.episode_step, self.episode_return
        if terminated or truncated:
            self.last_episode_return = self.episode_return
            self.episode += 1
            self.episode_step = 0
            self.episode_return = 0.0
            if self._baseline is not None:
                self._carry = self._baseline.init(self.params)
        self.baseline_action = self._next_baseline_action()

        active = [f"{f.kind}@{f.start}:{f.count}" for f in self.faults if f.active(self.step_count)]
        self.frozen = any(f.kind == "freeze" and f.active(self.step_count) for f in self.faults)
        if not self.frozen:
            published = self.obs.copy()
            if any(f.kind == "nan" and f.active(self.step_count) for f in self.faults):
                published[:] = np.nan
            self.published = published
        return StepOutcome(
            step=self.step_count, episode=episode, episode_step=episode_step,
            sim_time=self.step_count * self.dt, obs=self.obs.copy(), published=self.published.copy(),
            action=applied, source=sources, mode=self.mode, reward=reward, cost=cost,
            terminated=terminated, truncated=truncated, episode_return=episode_return,
            last_episode_return=self.last_episode_return, total_reward=self.total_reward,
            baseline_action=self.baseline_action.copy(), faults=active, frozen=self.frozen,
            rejected=rejected, state=_state_dict(self._state) if self.record_state else {})

    def record_line(self, out: StepOutcome) -> dict[str, Any]:
        """The JSON-able record of one step (see :mod:`twingym.live.record`)."""
        line: dict[str, Any] = {
            "event": "step", "wall_time": time.time(), "step": out.step, "episode": out.episode,
            "episode_step": out.episode_step, "sim_time": out.sim_time, "mode": out.mode,
            "action": out.action.tolist(), "source": out.source, "reward": out.reward,
            "cost": out.cost, "terminated": out.terminated, "truncated": out.truncated,
            "obs": out.obs.tolist(), "baseline_action": out.baseline_action.tolist(),
        }
        if out.faults:
            line["faults"] = out.faults
            line["published"] = out.published.tolist()
        if out.rejected:
            line["rejected"] = out.rejected
        if out.state:
            line["state"] = out.state
        return line
