"""Synthetic PolicySpecs for the policy tests (no training needed)."""

from __future__ import annotations

import itertools

import numpy as np
from twingym.agents.policy_spec import DenseLayer, PolicySpec


def random_spec(obs_dim: int, transform: str, *, out: int | None = None, nvec: tuple[int, ...] | None = None,
                hidden: tuple[int, ...] = (16, 16), activation: str = "tanh", seed: int = 0,
                low: np.ndarray | None = None, high: np.ndarray | None = None) -> PolicySpec:
    """An MLP with random weights and random normalisation statistics."""
    rng = np.random.default_rng(seed)
    if transform == "multi_argmax":
        out = int(sum(nvec))
    elif transform == "argmax":
        out = int(nvec[0]) if nvec else out
    sizes = [obs_dim, *hidden, out]
    layers = [DenseLayer(rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32),
                         rng.normal(0, 0.1, b).astype(np.float32),
                         activation if i < len(sizes) - 2 else "none")
              for i, (a, b) in enumerate(itertools.pairwise(sizes))]
    if low is None and transform in ("clip", "scale_clip", "tanh_scale"):
        low = -rng.uniform(0.5, 2.0, out).astype(np.float32)
        high = rng.uniform(0.5, 2.0, out).astype(np.float32)
    return PolicySpec(obs_dim=obs_dim, obs_mean=rng.normal(0, 1, obs_dim).astype(np.float32),
                      obs_var=rng.uniform(0.2, 3.0, obs_dim).astype(np.float32), layers=layers,
                      action_transform=transform,
                      action_low=None if low is None else np.asarray(low, np.float32),
                      action_high=None if high is None else np.asarray(high, np.float32),
                      nvec=nvec, backend="synthetic")


def tank_controller_spec(gain: float = 2.0) -> PolicySpec:
    """A good ToyTank policy written as a PolicySpec: feed-forward + high-gain proportional valve.

    valve = clip(0.19 + 0.19 * reference + gain * (reference - level), 0, 1): the feed-forward term is
    the linearised equilibrium valve 0.375*sqrt(reference) of the tank (inflow 0.08 v = outflow
    0.03 sqrt(h)), so it tracks the reference better than the twin's P-controller (gain 2, offset 0.5).
    Normalisation is non-trivial (mean 1, var 0.25) so export must fold it correctly.
    """
    mean = np.array([1.0, 1.0, 0.5], np.float32)
    var = np.array([0.25, 0.25, 0.25], np.float32)
    std = np.sqrt(var + 1e-8)
    # the net sees z = (obs - mean) / std; undo that inside the linear layer
    w_raw = np.array([[-gain], [0.19 + gain], [0.0]], np.float32)
    weight = (w_raw * std[:, None]).astype(np.float32)
    bias = np.array([0.19 + float(w_raw[:, 0] @ mean)], np.float32)
    return PolicySpec(obs_dim=3, obs_mean=mean, obs_var=var, layers=[DenseLayer(weight, bias, "none")],
                      action_transform="clip", action_low=np.zeros(1, np.float32),
                      action_high=np.ones(1, np.float32), backend="synthetic")


def degraded_spec(seed: int = 3) -> PolicySpec:
    """A 'policy' that ignores the tank: random weights, stuck near a constant valve opening."""
    return random_spec(3, "scale_clip", out=1, seed=seed, low=np.zeros(1), high=np.ones(1), hidden=(8,))
