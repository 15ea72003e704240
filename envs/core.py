"""The env API every twin keeps: ``TwinEnv`` with pure ``reset`` and ``step``.

A twin subclasses :class:`TwinEnv` and implements ``default_params``, ``reset_env``, ``step_env``,
``observation_space`` and ``action_space`` (and optionally ``render``, ``baselines``, ``scenarios``,
``observation_labels``, ``action_labels``). Every method is a pure function of its arguments: nothing
is stored on ``self`` after construction, so one instance serves any number of batched copies.

Auto-reset happens here, in :meth:`TwinEnv.step`, and nowhere else: when ``step_env`` reports
``terminated | truncated``, ``step`` returns the first observation of a fresh episode drawn from the
step key, the last observation of the finished one in ``info["final_observation"]``, and the two
flags unchanged.

Non-finite actions: every NaN or infinite component of a float action is replaced, in
:meth:`TwinEnv.step`, by the same component of the twin's :meth:`TwinEnv.safe_action` (zero, or
"hold the current setpoints", whichever the twin declares), and the step reports it:
``info["nonfinite_action"]`` (int32) counts the replaced components and each one adds 1 to
``info["cost"]``. So a NaN never reaches the dynamics, in a jitted batch or behind any adapter, and a
safe-RL learner or a validation gate sees it as a violation. Integer action spaces cannot hold a
non-finite value; the Gymnasium adapters refuse a non-finite value sent for one.

State and params are immutable pytrees (``flax.struct.dataclass``). Everything physical lives in
params, so ``jax.vmap`` over params is domain randomisation and over keys is batching.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from twingym.envs import spaces

StateT = TypeVar("StateT")
ParamsT = TypeVar("ParamsT")

Obs = jax.Array
Action = jax.Array
Info = dict[str, jax.Array]
StepResult = tuple[Obs, Any, jax.Array, jax.Array, jax.Array, Info]

#: keys every twin's ``step_env`` must put in ``info`` (``final_observation`` and ``nonfinite_action``
#: are added by ``step``).
REQUIRED_INFO_KEYS = ("cost",)
#: ``info["cost"]`` added per non-finite action component replaced by the safe action.
NONFINITE_ACTION_COST = 1.0


@struct.dataclass
class EnvState:
    """Convenience base for twin states: ``time`` counts steps since the episode began (int32)."""

    time: jax.Array


@struct.dataclass
class EnvParams:
    """Convenience base for twin params: ``max_steps`` is the episode length (truncation)."""

    max_steps: int = struct.field(pytree_node=False, default=200)


class Label(NamedTuple):
    """Meaning of one observation or action component.

    ``asset`` groups components into the objects the live twin serves over OPC UA (a turbine, a bus,
    a station); ``name`` is the variable name inside that object; ``unit`` is SI or a documented
    unit string ("m/s", "deg", "MW", "1" for dimensionless).
    """

    asset: str
    name: str
    unit: str


@dataclass(frozen=True)
class Baseline:
    """A classical controller acting on observations, as pure functions.

    ``init(params) -> carry`` builds the controller's internal state (integrators, counters; any
    pytree, use ``()`` when stateless). ``act(carry, obs, params) -> (action, carry)`` maps one
    observation to one action in the twin's action space. When ``jittable`` is False (an optimiser
    that calls scipy, say), ``act`` takes and returns numpy arrays for a single copy and callers loop
    over the batch on the host.
    """

    name: str
    init: Callable[[Any], Any]
    act: Callable[[Any, jax.Array, Any], tuple[jax.Array, Any]]
    jittable: bool = True
    description: str = ""


class TwinEnv(Generic[StateT, ParamsT]):
    """Base class of every twin. Subclasses implement the ``*_env`` methods and the spaces."""

    #: registered id, e.g. "WindFarm-v0" (set by the registry on ``make``).
    id: str = ""
    #: the baseline that learning targets compare against (a key of ``baselines()``).
    reference_baseline: str | None = None
    #: baselines (keys of ``baselines()``) that see what a real controller cannot, such as perfect
    #: foresight of demand or wind: run and reported as upper references, never gated against.
    oracle_baselines: tuple[str, ...] = ()

    #: whether a vmapped batch of this twin may be split over several devices (SPMD sharding). A
    #: twin whose step holds a data-dependent loop over gathered copies sets it False: XLA's CPU
    #: backend was seen to deadlock on such a loop with the batch split over host devices, so its
    #: batch runs on one device (see ``twingym.agents.sharding.batch_mesh``).
    batch_shardable: bool = True

    #: the baseline a residual action mode (``params.action_mode == "residual"``) wraps: that mode's
    #: zero action is this controller. None: the twin has no such mode.
    residual_controller: str | None = None

    def local_controller(self, params: ParamsT) -> str | None:
        """The baseline (a key of ``baselines()``) that controls the twin when no policy does: the
        live twin's ``local`` control mode and the steps validation takes from a policy whose
        observation the guard rejects. In a residual action mode, the controller the mode wraps
        (:attr:`residual_controller`): falling back hands control to the plant's own controller;
        otherwise the reference baseline."""
        if self.residual_controller is not None and getattr(params, "action_mode", None) == "residual":
            return self.residual_controller
        return self.reference_baseline

    def batch_parity_atol(self, params: ParamsT) -> float:
        """Absolute tolerance, in the units of the observation, reward and cost, to which a copy of a
        vmapped batch must equal the same copy stepped alone (the env kit's
        ``vmapped_batch_equals_single_copies``, the vector env's parity with gymnasium's
        ``SyncVectorEnv``); the relative tolerance is 1e-5. XLA compiles a batched and a single step
        differently (other fusions, other order of float32 products), so the two differ by round-off:
        1e-5 by default. A twin whose step ends in an iterative solve accepted at a tolerance states
        that solve's resolution here."""
        return 1e-5

    # ---- identity ---------------------------------------------------------------------------
    # A twin's behaviour lives in its class and params, so two instances of one class with equal
    # attributes are interchangeable: they hash and compare equal, and functions jitted with the
    # env as a static argument compile once for all of them (not once per ``make``).
    def _identity(self) -> tuple:
        return (type(self), tuple(sorted(vars(self).items())))

    def __hash__(self) -> int:
        try:
            return hash(self._identity())
        except TypeError:  # an unhashable attribute: fall back to the instance itself
            return object.__hash__(self)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        try:  # equal only where both hash by value (keeps hash and == consistent)
            mine, theirs = self._identity(), other._identity()  # type: ignore[attr-defined]
            hash(mine), hash(theirs)
            return bool(mine == theirs)
        except (TypeError, ValueError):
            return False

    # ---- to implement -------------------------------------------------------------------------
    def default_params(self) -> ParamsT:
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: ParamsT) -> tuple[Obs, StateT]:
        """Draw a fresh scenario from ``key``; return ``(obs, state)``."""
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: StateT, action: Action, params: ParamsT) -> StepResult:
        """One step without auto-reset. ``info`` must hold ``cost`` (float32 >= 0)."""
        raise NotImplementedError

    def observation_space(self, params: ParamsT) -> spaces.Space:
        raise NotImplementedError

    def action_space(self, params: ParamsT) -> spaces.Space:
        raise NotImplementedError

    # ---- optional -----------------------------------------------------------------------------
    def render(self, state: StateT, params: ParamsT) -> np.ndarray:
        """Host-side picture of one (unbatched) state: ``(H, W, 3)`` uint8."""
        raise NotImplementedError(f"{type(self).__name__} has no render()")

    def schematic(self, params: ParamsT) -> dict[str, Any]:
        """Static geometry a viewer needs to draw this twin (JSON-able, host side; default ``{}``).

        ``kind`` names the drawing (``wind_farm``, ``power_grid``, ``assembly_cell``,
        ``wind_turbine``); the other keys are plain lists and numbers in SI-style units (m, MW).
        The live twin publishes it once (``twingym/Schematic``) so a dashboard can draw the live
        measurements onto it without importing the twin.
        """
        return {}

    def safe_action(self, state: StateT, action: Action, params: ParamsT) -> Action:
        """The action whose components replace non-finite components of ``action``.

        ``action`` is the action received (for its shape and dtype). Default: zeros (no
        redispatch, no yaw offset, hold the setpoints). A twin whose zero action is not safe or not
        inside its action space overrides this; it may depend on the state (e.g. "hold the current
        setpoints" in an absolute-command mode). Traced inside ``step``: jnp only.
        """
        return jnp.zeros_like(action)

    def baselines(self) -> dict[str, Baseline]:
        """Classical controllers of this twin, by name."""
        return {}

    def scenarios(self) -> dict[str, dict[str, Any]]:
        """Named parameter override sets used by validation (``nominal`` is ``{}``)."""
        return {"nominal": {}}

    def observation_labels(self, params: ParamsT) -> list[Label]:
        """One label per flattened observation component (default: generic names)."""
        n = int(np.prod(self.observation_space(params).shape))
        return [Label("twin", f"obs_{i}", "1") for i in range(n)]

    def action_labels(self, params: ParamsT) -> list[Label]:
        """One label per flattened action component (default: generic names)."""
        n = int(np.prod(self.action_space(params).shape)) or 1
        return [Label("twin", f"action_{i}", "1") for i in range(n)]

    # ---- the API (do not override) --------------------------------------------------------------
    def reset(self, key: jax.Array, params: ParamsT | None = None) -> tuple[Obs, StateT]:
        """First observation and state of a new episode drawn from ``key``."""
        params = self.default_params() if params is None else params
        return self.reset_env(key, params)

    def step(self, key: jax.Array, state: StateT, action: Action,
             params: ParamsT | None = None) -> StepResult:
        """Advance one step; auto-resets into a fresh episode when this one ends.

        Returns ``(obs, state, reward, terminated, truncated, info)`` with ``reward`` float32,
        flags bool, ``info["cost"]`` float32 >= 0, ``info["nonfinite_action"]`` int32 (action
        components that were NaN or infinite and were replaced by :meth:`safe_action`; each adds
        1 to the cost) and ``info["final_observation"]`` the observation reached by this step
        before any reset.
        """
        params = self.default_params() if params is None else params
        key_step, key_reset = jax.random.split(key)
        action, nonfinite = self._finite_action(state, action, params)
        obs_st, state_st, reward, terminated, truncated, info = self.step_env(
            key_step, state, action, params)
        missing = [k for k in REQUIRED_INFO_KEYS if k not in info]
        if missing:
            raise KeyError(f"{type(self).__name__}.step_env must return info keys {missing}")
        terminated = jnp.asarray(terminated, dtype=jnp.bool_)
        truncated = jnp.asarray(truncated, dtype=jnp.bool_) & ~terminated
        done = terminated | truncated
        obs, state = _reset_where_done(self, key_reset, params, done, obs_st, state_st)
        info = dict(info)
        info["cost"] = (jnp.asarray(info["cost"], dtype=jnp.float32)
                        + NONFINITE_ACTION_COST * nonfinite.astype(jnp.float32))
        info["nonfinite_action"] = nonfinite
        info["final_observation"] = obs_st
        return obs, state, jnp.asarray(reward, dtype=jnp.float32), terminated, truncated, info

    def _finite_action(self, state: StateT, action: Action, params: ParamsT) -> tuple[Action, jax.Array]:
        """``action`` with non-finite components replaced by :meth:`safe_action`, and their count."""
        action = jnp.asarray(action)
        if not jnp.issubdtype(action.dtype, jnp.inexact):
            return action, jnp.int32(0)
        bad = ~jnp.isfinite(action)
        safe = jnp.broadcast_to(jnp.asarray(self.safe_action(state, action, params), action.dtype),
                                action.shape)
        return jnp.where(bad, safe, action), jnp.sum(bad, dtype=jnp.int32)

    def make_params(self, **overrides: Any) -> ParamsT:
        """Default params with ``overrides`` applied. Twins whose options change array shapes
        (a layout, a grid case) override this to build params from those options."""
        return self.replace_params(self.default_params(), **overrides)

    def replace_params(self, params: ParamsT, **overrides: Any) -> ParamsT:
        """``params`` with fields replaced; unknown names raise ``ValueError`` listing valid ones."""
        return replace_fields(params, overrides, what=f"{self.id or type(self).__name__} parameter")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"


def _reset_where_done(env: TwinEnv, key: jax.Array, params: Any, done: jax.Array, obs: Obs,
                      state: Any) -> tuple[Obs, Any]:
    """``(obs, state)``, replaced by ``env.reset_env(key, params)`` where ``done``.

    Per copy, the reset is computed and selected. Under ``jax.vmap`` (a batch of copies) the
    batch's resets run only when at least one copy is done (``lax.cond`` on ``any(done)``):
    a step where no episode ends pays nothing for them. Same values either way; each copy's
    new episode comes from its own key.
    """
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)  # custom_vmap takes plain arrays
    impl = jax.random.key_impl(key) if typed else None
    key_data = jax.random.key_data(key) if typed else key

    def select(key_data, params, done, obs, state):
        key = jax.random.wrap_key_data(key_data, impl=impl) if typed else key_data
        obs_re, state_re = env.reset_env(key, params)
        pick = lambda r, s: jnp.where(done, r, s)  # noqa: E731
        return pick(obs_re, obs), jax.tree.map(pick, state_re, state)

    fn = jax.custom_batching.custom_vmap(select)

    @fn.def_vmap
    def _batched(axis_size, in_batched, key_data, params, done, obs, state):
        key_b, params_b, done_b, obs_b, state_b = in_batched
        axes = lambda tree: jax.tree.map(lambda b: 0 if b else None, tree)  # noqa: E731
        full = lambda a, b: a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a)))  # noqa: E731
        obs = full(obs, obs_b)
        state = jax.tree.map(full, state, state_b)
        done = full(done, done_b)
        batched = jax.vmap(select, in_axes=(axes(key_b), axes(params_b), 0, 0, 0))
        out = jax.lax.cond(jnp.any(done), lambda: batched(key_data, params, done, obs, state),
                           lambda: (obs, state))
        return out, jax.tree.map(lambda _: True, out)

    return fn(key_data, params, done, obs, state)


def param_names(params: Any) -> list[str]:
    """Field names of a params dataclass, in declaration order."""
    return list(getattr(params, "__dataclass_fields__", {}).keys())


def replace_fields(params: Any, overrides: dict[str, Any], what: str = "parameter") -> Any:
    """Replace dataclass fields, checking names; arrays keep their dtype and shape."""
    valid = param_names(params)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")
    converted = {}
    for name, value in overrides.items():
        current = getattr(params, name)
        if isinstance(current, jax.Array | np.ndarray) and not isinstance(value, jax.Array | np.ndarray):
            value = jnp.asarray(value, dtype=current.dtype)
            if value.shape != current.shape and value.ndim != 0:
                raise ValueError(f"{what} {name!r} has shape {current.shape}, got {value.shape}")
            value = jnp.broadcast_to(value, current.shape)
        converted[name] = value
    return params.replace(**converted)

