"""twingym: a reinforcement-learning gym for industrial digital twins.

Subpackages: ``twingym.envs`` (twins and the env API), ``twingym.agents`` (PPO in JAX, SB3, RLlib),
``twingym.training`` (configs and the train loop), ``twingym.policies`` (bundles, export,
validation, deployment). The ``twingym`` command is ``twingym.cli``.
"""

__version__ = "0.1.0"
