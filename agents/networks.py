"""Plain MLPs as lists of ``{"w", "b"}`` dicts, so every network maps 1:1 onto ``PolicySpec`` layers.

Parameters are a pytree: ``[{"w": (in, out) float32, "b": (out,) float32}, ...]``. Hidden layers use
one activation (``tanh`` by default); the last layer is linear. Initialisation is orthogonal with the
usual PPO gains (sqrt(2) hidden, ``out_scale`` on the output layer) and zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from twingym.agents.policy_spec import Activation, DenseLayer

MLPParams = list[dict[str, jax.Array]]

_ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
}


def init_mlp(key: jax.Array, sizes: Sequence[int], out_scale: float = 1.0,
             hidden_scale: float = float(np.sqrt(2.0))) -> MLPParams:
    """Orthogonally initialised MLP with layer sizes ``sizes = [in, h1, ..., out]``."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        scale = out_scale if i == len(sizes) - 2 else hidden_scale
        w = jax.nn.initializers.orthogonal(scale)(k, (n_in, n_out), jnp.float32)
        layers.append({"w": w, "b": jnp.zeros((n_out,), jnp.float32)})
    return layers


def mlp_apply(layers: MLPParams, x: jax.Array, activation: Activation = "tanh") -> jax.Array:
    """Forward pass ``(..., in) -> (..., out)``; ``activation`` after every layer but the last."""
    act = _ACTIVATIONS[activation]
    for i, layer in enumerate(layers):
        x = x @ layer["w"] + layer["b"]
        if i < len(layers) - 1:
            x = act(x)
    return x


def mlp_to_dense_layers(layers: MLPParams, activation: Activation = "tanh") -> list[DenseLayer]:
    """Numpy ``DenseLayer`` list equal to :func:`mlp_apply` (last layer linear)."""
    out = []
    for i, layer in enumerate(layers):
        act: Activation = activation if i < len(layers) - 1 else "none"
        out.append(DenseLayer(np.asarray(layer["w"], np.float32), np.asarray(layer["b"], np.float32), act))
    return out
