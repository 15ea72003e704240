"""The training backends, by name: one registry entry per ``agent.backend`` value.

A :class:`Backend` names, as ``"module:attribute"`` strings imported on first use (so listing the
backends never imports torch or Ray):

- ``params``: the pydantic hyperparameter model of the config's ``agent:`` section; its ``backend``
  field is ``Literal[name]`` (the tag of the config schema's union);
- ``train_loop``: ``run(cfg, run_dir, resume=..., **options) -> summary`` that trains a run directory;
- ``policy``: a module with ``policy_spec(final)``, ``load_actor(final)`` and
  ``deterministic_actions(final, obs)`` for the run's ``final/`` folder (export and evaluation);
- ``sweep_space``: the default ``twingym sweep`` search space (dotted config key -> spec);
- ``jittable_actor``: ``load_actor`` returns a JAX function (traces under ``jit``/``vmap``);
- ``train_scenarios``: the loop can train on a mixture of the twin's scenarios.

Adding a backend is one module and one line in :data:`BACKENDS` (see ``docs/adding-a-backend.md``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


class UnknownBackendError(ValueError):
    """An ``agent.backend`` that is not registered (one line naming the known ones)."""


@dataclass(frozen=True)
class Backend:
    """One training backend (see the module docstring for the fields)."""

    name: str
    params: str
    train_loop: str
    policy: str
    sweep_space: dict[str, str] = field(default_factory=dict)
    jittable_actor: bool = False
    train_scenarios: bool = False

    def params_model(self) -> type:
        """The hyperparameter model class."""
        return _attribute(self.params)

    def train_function(self) -> Any:
        """The train loop ``run(cfg, run_dir, resume=..., **options)``."""
        return _attribute(self.train_loop)

    def policy_module(self) -> ModuleType:
        """The module with ``policy_spec``, ``load_actor`` and ``deterministic_actions``."""
        return importlib.import_module(self.policy)


def _attribute(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("jax_ppo", "twingym.agents.jax_ppo:JaxPPOParams", "twingym.training.jax_loop:run",
            "twingym.agents.jax_ppo",
            {"agent.learning_rate": "loguniform:1e-4:2e-3", "agent.ent_coef": "choice:0.0,0.001,0.01",
             "agent.gae_lambda": "choice:0.9,0.95,0.98"}, jittable_actor=True, train_scenarios=True),
    Backend("sb3_ppo", "twingym.agents.sb3:SB3PPOParams", "twingym.training.sb3_loop:run", "twingym.agents.sb3",
            {"agent.learning_rate": "loguniform:1e-4:2e-3", "agent.ent_coef": "choice:0.0,0.001,0.01"}),
    Backend("sb3_sac", "twingym.agents.sb3:SB3SACParams", "twingym.training.sb3_loop:run", "twingym.agents.sb3",
            {"agent.learning_rate": "loguniform:1e-4:1e-3", "agent.tau": "choice:0.005,0.01,0.02"}),
    Backend("rllib_ppo", "twingym.agents.rllib:RLlibPPOParams", "twingym.training.rllib_loop:run",
            "twingym.agents.rllib",
            {"agent.learning_rate": "loguniform:1e-4:2e-3", "agent.entropy_coeff": "choice:0.0,0.001,0.01"}),
)}


def backend(name: str) -> Backend:
    """The registered backend ``name``; :class:`UnknownBackendError` (one line) otherwise."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise UnknownBackendError(f"unknown agent.backend {name!r}; expected one of {', '.join(BACKENDS)}") from None


__all__ = ["BACKENDS", "Backend", "UnknownBackendError", "backend"]
