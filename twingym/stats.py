"""Paired comparisons on common random numbers: the one interval and verdict twingym reports.

Evaluation (``twingym evaluate``, the end of a training run) and validation (``twingym validate``)
run every controller on the same episodes, so the per-episode difference ``a - b`` of two
controllers' figures removes the variance they share. Its mean and 95 % interval (Student t with
``n - 1`` degrees of freedom) give the verdict of ``a`` against ``b``:

- ``beats``: the interval lies above zero;
- ``loses``: it lies below zero;
- ``tie``: it straddles zero, or fewer than two finite episodes leave it undefined.

A :class:`Difference` is one row of the paired table (policy minus one baseline in one scenario);
baselines that see what a real controller cannot (``TwinEnv.oracle_baselines``) are marked
``oracle``: their row is the gap to an upper reference, never a verdict that gates.

This module imports numpy and scipy only (training and policies both use it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
BEATS, LOSES, TIE = "beats", "loses", "tie"


def t_interval(values: Any, level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the mean of the finite entries of ``values`` with a Student-t
    interval at ``level``; the bounds are NaN with fewer than two entries (all NaN with none)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n == 1:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def verdict(low: float, high: float) -> str:
    """``beats`` when ``low > 0``, ``loses`` when ``high < 0``, else ``tie`` (NaN bounds: ``tie``)."""
    if low > 0:
        return BEATS
    if high < 0:
        return LOSES
    return TIE


@dataclass(frozen=True)
class Difference:
    """Mean paired difference ``subject - baseline`` with its 95 % interval over ``n`` episodes.

    ``metric`` names the figure (``return`` or a KPI key); ``oracle`` marks a baseline that is an
    upper reference (perfect foresight), reported but never gated.
    """

    scenario: str
    baseline: str
    mean: float
    low: float
    high: float
    n: int
    oracle: bool = False
    metric: str = "return"

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        """``beats`` / ``loses`` / ``tie`` (see :func:`verdict`)."""
        return verdict(self.low, self.high)

    def interval_text(self, digits: int = 3) -> str:
        """``+1.02 [+0.64, +1.39]`` (the mean alone when the interval is undefined)."""
        if not math.isfinite(self.mean):
            return "n/a"
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return f"{self.mean:+.{digits}g}"
        return f"{self.mean:+.{digits}g} [{self.low:+.{digits}g}, {self.high:+.{digits}g}]"

    def to_json(self) -> dict[str, Any]:
        """The JSON row of the paired table (``verdict`` included)."""
        return {"scenario": self.scenario, "baseline": self.baseline, "metric": self.metric,
                "mean": self.mean, "low": self.low, "high": self.high, "n": self.n, "oracle": self.oracle,
                "verdict": self.verdict}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Difference:
        """The row written by :meth:`to_json` (non-finite figures may be strings, see json_safe)."""
        return cls(str(row["scenario"]), str(row["baseline"]), float(row["mean"]), float(row["low"]),
                   float(row["high"]), int(row["n"]), bool(row.get("oracle", False)),
                   str(row.get("metric", "return")))


def paired_differences(scenario: str, subject: Any, baselines: Mapping[str, Any],
                       oracles: Iterable[str] = (), metric: str = "return") -> list[Difference]:
    """``subject - baseline`` per episode for every entry of ``baselines`` (arrays of shape (E,),
    paired by episode), in the mapping's order; entries named in ``oracles`` are marked."""
    oracle_set = set(oracles)
    a = np.asarray(subject, dtype=np.float64)
    out = []
    for name, values in baselines.items():
        b = np.asarray(values, dtype=np.float64)
        if b.shape != a.shape:
            raise ValueError(f"{scenario}: {name} has {b.shape[0] if b.ndim else 0} episodes, the subject "
                             f"{a.shape[0] if a.ndim else 0}; a paired difference needs the same episodes")
        mean, low, high = t_interval(a - b)
        out.append(Difference(scenario, name, mean, low, high, int(np.isfinite(a - b).sum()),
                              name in oracle_set, metric))
    return out


__all__ = ["BEATS", "LEVEL", "LOSES", "TIE", "Difference", "paired_differences", "t_interval", "verdict"]
