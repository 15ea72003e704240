"""twingym.agents: one module per training backend, and the hand-off to export.

- :mod:`twingym.agents.jax_ppo`: pure-JAX PPO (``make_train(config) -> train(key)``).
- :mod:`twingym.agents.sb3`: stable-baselines3 PPO and SAC on the batched SB3 VecEnv.
- :mod:`twingym.agents.rllib`: Ray RLlib PPO on the current API stack.
- :mod:`twingym.agents.policy_spec`: :class:`PolicySpec`, the backend-neutral deterministic policy.

For a finished run directory (see ``twingym.training.run_dir``):

- :func:`policy_spec_from_run` builds the :class:`PolicySpec` of its final policy;
- :func:`deterministic_actions` runs the backend's *own* deterministic policy (JAX or torch), the
  reference the exported graph is checked against.

Backend modules import torch/ray lazily, so importing this package stays light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from twingym.agents.policy_spec import DenseLayer, PolicySpec

BACKENDS = ("jax_ppo", "sb3_ppo", "sb3_sac", "rllib_ppo")


def run_backend(run_dir: str | Path) -> str:
    """The ``agent.backend`` recorded in ``RUN/config.yaml``."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory (no config.yaml)")
    backend = (yaml.safe_load(path.read_text()) or {}).get("agent", {}).get("backend")
    if backend not in BACKENDS:
        raise ValueError(f"{path}: unknown agent.backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return backend


def final_dir(run_dir: str | Path) -> Path:
    """``RUN/final``; ``FileNotFoundError`` when the run has not finished."""
    path = Path(run_dir) / "final"
    if not path.is_dir():
        raise FileNotFoundError(f"run {str(run_dir)!r} has no final policy (final/ is missing: "
                                f"did training finish?)")
    return path


def policy_spec_from_run(run_dir: str | Path) -> PolicySpec:
    """:class:`PolicySpec` of the final policy of a run (any backend)."""
    backend = run_backend(run_dir)
    final = final_dir(run_dir)
    if backend == "jax_ppo":
        from twingym.agents.jax_ppo import JaxPolicy

        return JaxPolicy.load(final).policy_spec()
    if backend in ("sb3_ppo", "sb3_sac"):
        from twingym.agents import sb3

        return sb3.policy_spec(final)
    from twingym.agents import rllib

    return rllib.policy_spec(final)


def load_actor(run_dir: str | Path):
    """``(act, jittable)``: the final policy as a batched function ``obs (B, ...) -> actions (B, ...)``.

    ``jittable`` is True for JAX policies (``act`` traces under ``jit``/``vmap``); torch policies act
    on numpy arrays on the host.
    """
    backend = run_backend(run_dir)
    final = final_dir(run_dir)
    if backend == "jax_ppo":
        from twingym.agents.jax_ppo import JaxPolicy

        return JaxPolicy.load(final).act, True
    if backend in ("sb3_ppo", "sb3_sac"):
        from twingym.agents import sb3

        return sb3.load_actor(final), False
    from twingym.agents import rllib

    return rllib.load_actor(final), False


def deterministic_actions(run_dir: str | Path, obs: np.ndarray) -> np.ndarray:
    """The backend's own deterministic actions for raw observations ``(B, *obs_shape)``."""
    backend = run_backend(run_dir)
    final = final_dir(run_dir)
    if backend == "jax_ppo":
        import jax.numpy as jnp
        from twingym.agents.jax_ppo import JaxPolicy

        return np.asarray(JaxPolicy.load(final).act(jnp.asarray(obs, jnp.float32)))
    if backend in ("sb3_ppo", "sb3_sac"):
        from twingym.agents import sb3

        return sb3.deterministic_actions(final, obs)
    from twingym.agents import rllib

    return rllib.deterministic_actions(final, obs)


__all__ = ["BACKENDS", "DenseLayer", "PolicySpec", "deterministic_actions", "final_dir", "load_actor",
           "policy_spec_from_run", "run_backend"]
