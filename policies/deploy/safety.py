"""The safety layer between the policy and the plant: clip to the action limits, limit the rate.

Every action the deploy runtime writes goes through :meth:`SafetyLayer.apply`:

1. a non-finite component is replaced by the previously applied setpoint (never written as NaN);
2. each component is limited to move at most ``max_rate`` x (its action range) per twin step away
   from the setpoint the twin applied last (read back from the twin, so a hand-over from the
   baseline controller is bumpless);
3. each component is clipped into ``[low, high]`` from the bundle's manifest;
4. discrete components are rounded to the nearest integer.

All numpy; shapes ``(action_dim,)`` float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SafetyResult:
    """``action`` as written; which components were clipped, rate-limited or non-finite."""

    action: np.ndarray
    clipped: list[int]
    rate_limited: list[int]
    non_finite: list[int]

    @property
    def intervened(self) -> bool:
        return bool(self.clipped or self.rate_limited or self.non_finite)


class SafetyLayer:
    """Clip and rate-limit actions.

    Args:
        low, high: action limits ``(action_dim,)`` (finite where rate limits apply).
        kind: ``box``, ``discrete`` or ``multidiscrete``.
        max_rate: largest change per step as a fraction of ``high - low`` (``None``: no rate limit).
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, kind: str = "box",
                 max_rate: float | None = None) -> None:
        self.low = np.asarray(low, dtype=np.float64).ravel()
        self.high = np.asarray(high, dtype=np.float64).ravel()
        if self.low.shape != self.high.shape or np.any(self.low > self.high):
            raise ValueError("safety layer: action limits must have equal shapes and low <= high")
        if max_rate is not None and not max_rate > 0:
            raise ValueError(f"rate limit must be > 0 (a fraction of the action range), got {max_rate}")
        self.kind = kind
        self.max_rate = max_rate
        span = self.high - self.low
        self.max_step = (np.where(np.isfinite(span), span * max_rate, np.inf) if max_rate is not None
                         else np.full_like(span, np.inf))
        if kind != "box":
            self.max_step = np.maximum(np.round(self.max_step), 1.0)

    def apply(self, action: np.ndarray, previous: np.ndarray | None) -> SafetyResult:
        """The safe version of ``action`` given the setpoints applied last (``previous``, may be None)."""
        a = np.asarray(action, dtype=np.float64).ravel().copy()
        prev = None if previous is None else np.asarray(previous, dtype=np.float64).ravel()
        bad = ~np.isfinite(a)
        if bad.any():
            fill = prev if prev is not None else np.clip(0.0, self.low, self.high)
            fill = np.where(np.isfinite(fill), fill, np.clip(0.0, self.low, self.high))
            a = np.where(bad, fill, a)
        limited = np.zeros(a.shape, dtype=bool)
        if prev is not None and self.max_rate is not None:
            ok = np.isfinite(prev)
            lo, hi = prev - self.max_step, prev + self.max_step
            limited = ok & ((a < lo) | (a > hi))
            a = np.where(ok, np.clip(a, lo, hi), a)
        clipped = (a < self.low) | (a > self.high)
        a = np.clip(a, self.low, self.high)
        if self.kind != "box":
            a = np.round(a)
        return SafetyResult(a, np.flatnonzero(clipped).tolist(), np.flatnonzero(limited).tolist(),
                            np.flatnonzero(bad).tolist())
