"""WindTurbine-v0: one NREL 5-MW turbine in turbulent wind, against its reference controller.

Modules: ``dynamics`` (rotor, drivetrain, actuators), ``wind`` (Kaimal turbulence, gust, ramp),
``env`` (the twin), ``baselines`` (the reference controller), ``scenarios``, ``render``.
"""

from twingym.envs.wind_turbine.env import WindTurbine, build_params
from twingym.envs.wind_turbine.types import WindTurbineParams, WindTurbineState

__all__ = ["WindTurbine", "WindTurbineParams", "WindTurbineState", "build_params"]
