"""THE definition of how bad observation inputs are handled, in validation and in deployment alike.

Validation (``twingym validate``) and deployment (``twingym deploy``) both put every observation
through this module before ``policy.onnx`` sees it, so a policy is judged on exactly the inputs it
will get in the field. Nothing else in twingym may handle non-finite observations differently.

The rule, per observation component (flattened observation, shape ``(obs_dim,)`` or a batch
``(batch, obs_dim)``):

1. A *non-finite* reading (NaN, +inf, -inf) is a bad reading. It is replaced by the *last good*
   value of that component (hold last value). Before any good value was seen, it is replaced by the
   *fallback value* of that component: the midpoint of the observation space when both bounds are
   finite, the finite bound when only one is, and 0 otherwise (see :func:`fallback_values`).
2. Every value is then clipped into the observation space ``[low, high]`` (a finite reading outside
   the space, e.g. ``1e30`` from a broken sensor, becomes the nearest bound; it is not counted bad).
3. :class:`ObservationGuard` adds the one stateful decision: when any component of a row has been
   bad for more than ``max_hold`` consecutive steps (default :data:`DEFAULT_MAX_HOLD`), or a row's
   component was bad before it was ever good, the row is flagged ``fallback``: the caller must not
   use the policy's action for that row but the twin's baseline controller (deployment's watchdog
   and validation's "sensor dropout" scenario both do this). Short glitches are bridged by holding
   the last value; persistent ones hand control to the baseline.

Stale (frozen but finite) readings cannot be recognised from values alone; deployment detects them
from timestamps and treats them like bad readings (set ``force_bad``), validation feeds them to the
policy as they are to measure robustness.

API used by deployment::

    clean, bad = sanitize_observation(obs, last_good, low, high)
    guard = ObservationGuard(low, high)              # one per control loop, batch of rows or one row
    clean, fallback = guard.update(obs)               # obs (obs_dim,) or (batch, obs_dim)

All functions are plain numpy (float32), have no JAX dependency and never raise on bad values.
"""

from __future__ import annotations

import numpy as np

#: consecutive bad steps of one component that are bridged by holding the last good value; one more
#: and the row falls back to the baseline controller.
DEFAULT_MAX_HOLD = 5


def fallback_values(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Value used for a bad component before any good reading: midpoint / finite bound / 0.

    ``low``, ``high``: observation space bounds, ``(obs_dim,)`` (may hold +-inf). Returns float32.
    """
    low = np.asarray(low, dtype=np.float32)
    high = np.asarray(high, dtype=np.float32)
    lo_fin, hi_fin = np.isfinite(low), np.isfinite(high)
    with np.errstate(invalid="ignore", over="ignore"):
        mid = (low.astype(np.float64) + high.astype(np.float64)) / 2.0
    out = np.where(lo_fin & hi_fin, mid, np.where(lo_fin, low, np.where(hi_fin, high, 0.0)))
    # an unbounded side with 0 outside the space (e.g. low=5, high=inf) still lands inside it
    return np.clip(out, low, high).astype(np.float32)


def sanitize_observation(obs: np.ndarray, last_good: np.ndarray | None, low: np.ndarray,
                         high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace non-finite components and clip into the observation space.

    Args:
        obs: raw observation, ``(obs_dim,)`` or ``(batch, obs_dim)``, any float dtype.
        last_good: last good value per component, same shape as ``obs`` (or broadcastable), or None
            when no good value exists yet (then :func:`fallback_values` is used).
        low, high: observation space bounds, ``(obs_dim,)``.

    Returns:
        ``(clean, bad)``: ``clean`` float32 like ``obs``, finite and inside ``[low, high]``;
        ``bad`` bool like ``obs``, True where the raw component was non-finite.
    """
    obs = np.asarray(obs, dtype=np.float32)
    low = np.asarray(low, dtype=np.float32)
    high = np.asarray(high, dtype=np.float32)
    bad = ~np.isfinite(obs)
    if last_good is None:
        replacement = np.broadcast_to(fallback_values(low, high), obs.shape)
    else:
        replacement = np.broadcast_to(np.asarray(last_good, dtype=np.float32), obs.shape)
        replacement = np.where(np.isfinite(replacement), replacement,
                               np.broadcast_to(fallback_values(low, high), obs.shape))
    clean = np.where(bad, replacement, obs)
    clean = np.clip(clean, low, high).astype(np.float32)
    return clean, bad


class ObservationGuard:
    """Stateful sanitiser for a control loop: hold last good values, flag rows that need fallback.

    Args:
        low, high: observation space bounds, ``(obs_dim,)``.
        max_hold: consecutive bad steps bridged by holding the last good value (per component).
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, max_hold: int = DEFAULT_MAX_HOLD) -> None:
        self.low = np.asarray(low, dtype=np.float32).ravel()
        self.high = np.asarray(high, dtype=np.float32).ravel()
        self.max_hold = int(max_hold)
        self.last_good: np.ndarray | None = None   # (batch, obs_dim) float32
        self.ever_good: np.ndarray | None = None   # (batch, obs_dim) bool
        self.bad_run: np.ndarray | None = None     # (batch, obs_dim) int: consecutive bad steps

    def reset(self) -> None:
        """Forget all history (a new episode / a reconnect)."""
        self.last_good = self.ever_good = self.bad_run = None

    def update(self, obs: np.ndarray, force_bad: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sanitise one step of observations.

        Args:
            obs: ``(obs_dim,)`` or ``(batch, obs_dim)`` raw observations.
            force_bad: optional bool mask like ``obs`` marking readings known to be bad although
                finite (stale by timestamp); they are treated exactly like non-finite readings.

        Returns:
            ``(clean, fallback)``: ``clean`` float32 like ``obs``; ``fallback`` bool, ``()`` for one
            row or ``(batch,)``: True where the caller must use the baseline controller.
        """
        single = np.ndim(obs) == 1
        x = np.asarray(obs, dtype=np.float32).reshape(-1, self.low.shape[0])
        if force_bad is not None:
            x = np.where(np.asarray(force_bad).reshape(x.shape), np.float32(np.nan), x)
        if self.last_good is None or self.last_good.shape != x.shape:
            self.last_good = np.broadcast_to(fallback_values(self.low, self.high), x.shape).copy()
            self.ever_good = np.zeros(x.shape, dtype=bool)
            self.bad_run = np.zeros(x.shape, dtype=np.int64)
        clean, bad = sanitize_observation(x, self.last_good, self.low, self.high)
        self.bad_run = np.where(bad, self.bad_run + 1, 0)
        fallback = np.any((self.bad_run > self.max_hold) | (bad & ~self.ever_good), axis=-1)
        self.ever_good |= ~bad
        self.last_good = np.where(bad, self.last_good, clean)
        if single:
            return clean[0], fallback[0]
        return clean, fallback
