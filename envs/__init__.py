"""twingym.envs: the twins and the env API.

``make(id, **param_overrides) -> (env, params)`` builds a twin; ``registered()`` lists them;
``check_twin(env, params)`` runs the env kit on any twin (see :mod:`twingym.envs.check`).
Importing this package registers every built-in twin, here and in gymnasium's registry under the
``twingym/`` namespace (so ``gymnasium.make("twingym/WindFarm-v0")`` and
``gymnasium.make("twingym.envs:twingym/WindFarm-v0")`` work).
"""

from twingym.envs.check import CheckResult, TwinCheckError, check_twin
from twingym.envs.core import Baseline, EnvParams, EnvState, Label, TwinEnv
from twingym.envs.registry import UnknownTwinError, make, register, registered, spec

#: built-in twins: id -> (entry point, one-line description, episode length in steps = the default
#: params' ``max_steps``). Twin modules import lazily on make().
BUILTIN_TWINS: dict[str, tuple[str, str, int]] = {
    "PowerGrid-v0": ("twingym.envs.power_grid.env:PowerGrid", "transmission grid (pandapower case14/30/118): redispatch, batteries, curtailment; AC power flow in JAX", 96),
    "PowerGridCongested-v0": ("twingym.envs.power_grid.congested:PowerGridCongested",
                              "IEEE 30-bus grid whose merit order overloads lines: wind behind a corridor, "
                              "forecast error, priced overloads", 96),
    "AssemblyCell-v0": ("twingym.envs.assembly_cell.env:AssemblyCell",
                        "serial assembly cell: buffers, failures, wear, maintenance, energy", 288),
    "WindTurbine-v0": ("twingym.envs.wind_turbine.env:WindTurbine", "one NREL 5-MW turbine in turbulent wind: torque and pitch control", 600),
    "WindFarm-v0": ("twingym.envs.wind_farm.env:WindFarm",
                    "9-turbine wind farm, Gaussian wakes (FLORIS parity): yaw wake steering", 120),
}

for _id, (_entry, _doc, _steps) in BUILTIN_TWINS.items():
    if _id not in registered():
        register(_id, _entry, description=_doc, max_episode_steps=_steps)

__all__ = [
    "BUILTIN_TWINS",
    "Baseline",
    "CheckResult",
    "EnvParams",
    "EnvState",
    "Label",
    "TwinCheckError",
    "TwinEnv",
    "UnknownTwinError",
    "check_twin",
    "make",
    "register",
    "registered",
    "spec",
]
