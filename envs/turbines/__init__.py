"""Turbine data shared by the wind farm and single-turbine twins: one source of turbine facts.

- ROSCO-format rotor performance surfaces (Cp, Ct, Cq over tip-speed ratio and pitch) and the
  reference controller settings (DISCON.IN), flown by the single-turbine twin.
- FLORIS-format turbine definitions (power and thrust coefficient over wind speed), used by the
  wind farm twin. The default ``nrel_5MW_rosco`` and ``iea_15MW_rosco`` are derived from the same
  ROSCO files (``steady_state``, ``tsr_tracking``: the reference controllers' static steady
  operating points); ``nrel_5MW`` is the FAST table FLORIS ships under that name.
- Turbine specs (``turbine_spec``): a bundled name, a spec YAML or a ``DISCON.IN`` path with a
  geometry YAML beside it, for both twins.
"""

from twingym.envs.turbines.floris_yaml import (
    TurbineCurves,
    TurbineFileError,
    available_turbines,
    floris_turbine_dict,
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
from twingym.envs.turbines.steady_state import (
    OperatingPoints,
    TorqueLaw,
    curves_from_turbine_spec,
    spec_operating_points,
    steady_operating_points,
)
from twingym.envs.turbines.tsr_tracking import TsrTrackingSettings, tsr_tracking_operating_points
from twingym.envs.turbines.turbine_spec import TurbineSpec, available_rosco_turbines, load_turbine_spec

__all__ = [
    "OperatingPoints",
    "RoscoFileError",
    "RoscoTurbine",
    "RotorPerformance",
    "TorqueLaw",
    "TsrTrackingSettings",
    "TurbineCurves",
    "TurbineFileError",
    "TurbineSpec",
    "available_rosco_turbines",
    "available_rotor_surfaces",
    "available_turbines",
    "curves_from_turbine_spec",
    "floris_turbine_dict",
    "load_floris_turbine",
    "load_rosco_turbine",
    "load_rotor_performance",
    "load_turbine_spec",
    "parse_discon",
    "spec_operating_points",
    "steady_operating_points",
    "tsr_tracking_operating_points",
]
