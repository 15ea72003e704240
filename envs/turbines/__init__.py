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
