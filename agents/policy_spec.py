"""Backend-neutral description of a trained deterministic policy, the hand-off from agents to export.

Every backend (JAX PPO, SB3, RLlib) can describe its deterministic policy as: observation
normalisation, then an MLP, then an action head. :class:`PolicySpec` holds exactly that, as numpy
arrays, so ``twingym.policies`` builds the ONNX graph once for all backends and can check it against
:func:`PolicySpec.act` (a numpy reference forward pass).

Shapes: ``obs_dim`` = flattened observation length, layers map ``(batch, in) -> (batch, out)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Activation = Literal["tanh", "relu", "elu", "none"]
#: how raw head outputs become actions in the twin's units.
#: - "clip": continuous, action = clip(mean, low, high) (SB3 PPO / JAX PPO Gaussian without squashing)
#: - "scale_clip": continuous, mean in [-1, 1] units: action = low + (clip(mean,-1,1)+1)/2*(high-low)
#: - "tanh_scale": continuous, action = low + (tanh(mean)+1)/2*(high-low) (SAC)
#: - "argmax": categorical, action = argmax(logits) (Discrete)
#: - "multi_argmax": multi-discrete, logits split by ``nvec``, argmax per group
ActionTransform = Literal["clip", "scale_clip", "tanh_scale", "argmax", "multi_argmax"]


@dataclass
class DenseLayer:
    """``y = act(x @ weight + bias)``; ``weight`` (in, out) float32, ``bias`` (out,) float32."""

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation = "none"


@dataclass
class PolicySpec:
    """A deterministic policy: normalise -> MLP -> head.

    Attributes:
        obs_dim: flattened observation length.
        obs_mean, obs_var: running normalisation statistics, (obs_dim,) float32; the network sees
            ``clip((obs - mean) / sqrt(var + obs_epsilon), -obs_clip, obs_clip)``. Identity
            normalisation is mean 0, var 1, epsilon 0, clip inf.
        layers: the MLP from normalised observation to raw head output.
        action_transform: see :data:`ActionTransform`.
        action_low, action_high: bounds of continuous actions in the twin's units, (action_dim,).
        nvec: category counts for ``argmax``/``multi_argmax`` heads.
        backend: "jax_ppo", "sb3_ppo", "sb3_sac", "rllib_ppo".
    """

    obs_dim: int
    obs_mean: np.ndarray
    obs_var: np.ndarray
    layers: list[DenseLayer]
    action_transform: ActionTransform
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None
    nvec: tuple[int, ...] | None = None
    obs_epsilon: float = 1e-8
    obs_clip: float = 10.0
    backend: str = ""
    extra: dict = field(default_factory=dict)

    def normalise(self, obs: np.ndarray) -> np.ndarray:
        """Normalised observation (batch, obs_dim) float32."""
        obs = np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)
        z = (obs - self.obs_mean) / np.sqrt(self.obs_var + self.obs_epsilon)
        return np.clip(z, -self.obs_clip, self.obs_clip).astype(np.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Reference numpy forward pass: raw observations (batch, obs_dim) -> actions (batch, ...)."""
        x = self.normalise(obs)
        for layer in self.layers:
            x = x @ layer.weight + layer.bias
            if layer.activation == "tanh":
                x = np.tanh(x)
            elif layer.activation == "relu":
                x = np.maximum(x, 0.0)
            elif layer.activation == "elu":
                x = np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
        low, high = self.action_low, self.action_high
        if self.action_transform == "clip":
            return np.clip(x, low, high).astype(np.float32)
        if self.action_transform == "scale_clip":
            return (low + (np.clip(x, -1.0, 1.0) + 1.0) * 0.5 * (high - low)).astype(np.float32)
        if self.action_transform == "tanh_scale":
            return (low + (np.tanh(x) + 1.0) * 0.5 * (high - low)).astype(np.float32)
        if self.action_transform == "argmax":
            return np.argmax(x, axis=-1).astype(np.int64)
        if self.action_transform == "multi_argmax":
            splits = np.cumsum(self.nvec)[:-1]
            return np.stack([np.argmax(g, axis=-1) for g in np.split(x, splits, axis=-1)],
                            axis=-1).astype(np.int64)
        raise ValueError(f"unknown action transform {self.action_transform!r}")
