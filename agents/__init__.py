"""twingym.agents: one module per training backend, and the hand-off to export.

- :mod:`twingym.agents.jax_ppo`: pure-JAX PPO (``make_train(config) -> train(key)``).
- :mod:`twingym.agents.sb3`: stable-baselines3 PPO and SAC on the batched SB3 VecEnv.
- :mod:`twingym.agents.rllib`: Ray RLlib PPO on the current API stack.
- :mod:`twingym.agents.policy_spec`: :class:`PolicySpec`, the backend-neutral deterministic policy.
- :mod:`twingym.agents.backends`: the registry of backends (:data:`BACKENDS`), by ``agent.backend``.

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
from twingym.agents.backends import BACKENDS, Backend, UnknownBackendError, backend
from twingym.agents.policy_spec import DenseLayer, PolicySpec


def run_backend(run_dir: str | Path) -> str:
    """The ``agent.backend`` recorded in ``RUN/config.yaml``."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory (no config.yaml)")
    name = (yaml.safe_load(path.read_text()) or {}).get("agent", {}).get("backend")
    try:
        return backend(name).name
    except UnknownBackendError as exc:
        raise UnknownBackendError(f"{path}: {exc}") from None


def final_dir(run_dir: str | Path) -> Path:
    """``RUN/final``; ``FileNotFoundError`` when the run has not finished."""
    path = Path(run_dir) / "final"
    if not path.is_dir():
        raise FileNotFoundError(f"run {str(run_dir)!r} has no final policy (final/ is missing: "
                                f"did training finish?)")
    return path


def _run_policy(run_dir: str | Path) -> tuple[Backend, Path]:
    return backend(run_backend(run_dir)), final_dir(run_dir)


def policy_spec_from_run(run_dir: str | Path) -> PolicySpec:
    """:class:`PolicySpec` of the final policy of a run (any backend)."""
    b, final = _run_policy(run_dir)
    return b.policy_module().policy_spec(final)


def load_actor(run_dir: str | Path):
    """``(act, jittable)``: the final policy as a batched function ``obs (B, ...) -> actions (B, ...)``.

    ``jittable`` is True for JAX policies (``act`` traces under ``jit``/``vmap``); torch policies act
    on numpy arrays on the host.
    """
    b, final = _run_policy(run_dir)
    return b.policy_module().load_actor(final), b.jittable_actor


def deterministic_actions(run_dir: str | Path, obs: np.ndarray) -> np.ndarray:
    """The backend's own deterministic actions for raw observations ``(B, *obs_shape)``."""
    b, final = _run_policy(run_dir)
    return np.asarray(b.policy_module().deterministic_actions(final, obs))


__all__ = ["BACKENDS", "Backend", "DenseLayer", "PolicySpec", "UnknownBackendError", "backend",
           "deterministic_actions", "final_dir", "load_actor", "policy_spec_from_run", "run_backend"]
