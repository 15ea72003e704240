"""Turbine data shared by the wind farm and single-turbine twins: one source of turbine facts.

- FLORIS-format turbine definitions (power and thrust coefficient over wind speed), used by the
  wind farm twin.
- ROSCO-format rotor performance surfaces (Cp, Ct, Cq over tip-speed ratio and pitch) and the
  reference controller settings (DISCON.IN), used by the single-turbine twin.
"""

from twingym.envs.turbines.floris_yaml import (
    TurbineCurves,
    TurbineFileError,
    available_turbines,
    load_floris_turbine,
)
from twingym.envs.turbines.rosco import (
    RoscoFileError,
    RoscoTurbine,
    RotorPerformance,
    available_rotor_surfaces,
    load_rosco_turbine,
    load_rotor_performance,
    parse_discon,
)

__all__ = [
    "RoscoFileError",
    "RoscoTurbine",
    "RotorPerformance",
    "TurbineCurves",
    "TurbineFileError",
    "available_rotor_surfaces",
    "available_turbines",
    "load_floris_turbine",
    "load_rosco_turbine",
    "load_rotor_performance",
    "parse_discon",
]
