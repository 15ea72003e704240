"""WindFarm-v0: a wind farm twin with a FLORIS-grade Gaussian wake model in JAX.

- :func:`farm_power`: turbine powers (W) for layouts, inflow conditions and yaw angles; FLORIS 4
  parity, jittable and differentiable.
- :class:`WindFarm`: the dynamic twin (wind processes, sensors, yaw actuators, wake delay).
- Layout generators :func:`grid_layout`, :func:`random_layout`, :func:`custom_layout`.
"""

from twingym.envs.wind_farm.env import WindFarm
from twingym.envs.wind_farm.farm import (
    FarmModel,
    default_model,
    farm_power,
    flow_at_points,
    rotate_to_wind,
    solve_condition,
    solve_conditions,
)
from twingym.envs.wind_farm.layouts import custom_layout, grid_layout, random_layout
from twingym.envs.wind_farm.types import WindFarmParams, WindFarmState

__all__ = [
    "FarmModel",
    "WindFarm",
    "WindFarmParams",
    "WindFarmState",
    "custom_layout",
    "default_model",
    "farm_power",
    "flow_at_points",
    "grid_layout",
    "random_layout",
    "rotate_to_wind",
    "solve_condition",
    "solve_conditions",
]
