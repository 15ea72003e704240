"""FLORIS 4 configured like ``farm_power``: the parity reference of the tests and the benchmark.

FLORIS is handed the very turbine curves ``farm_power`` uses (by default ``nrel_5MW_rosco``, derived
from the ROSCO surfaces; any bundled name, YAML path or ``TurbineCurves`` works), written as a
FLORIS v4 turbine dictionary, so the comparison is wake model against wake model.
FLORIS is a test dependency; it is imported only when these functions run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from twingym.envs.turbines.floris_yaml import TurbineCurves, floris_turbine_dict, load_floris_turbine


def floris_model(layout_x, layout_y, turbine: str | Path | TurbineCurves = "nrel_5MW_rosco"):
    """FLORIS 4 with gauss/gauss/crespo_hernandez/sosfs, GCH extras off, 3x3 grid, shear 0.12,
    and the turbine curves twingym uses for ``turbine``."""
    import floris

    curves = turbine if isinstance(turbine, TurbineCurves) else load_floris_turbine(turbine)
    turbine = floris_turbine_dict(curves)
    config = {
        "name": "twingym-parity",
        "description": "gauss velocity+deflection, sosfs, crespo_hernandez, no GCH extras",
        "floris_version": "v4",
        "logging": {"console": {"enable": False, "level": "WARNING"},
                    "file": {"enable": False, "level": "WARNING"}},
        "solver": {"type": "turbine_grid", "turbine_grid_points": 3},
        "farm": {"layout_x": list(map(float, layout_x)), "layout_y": list(map(float, layout_y)),
                 "turbine_type": [turbine]},
        "flow_field": {"air_density": 1.225, "reference_wind_height": -1,
                       "turbulence_intensities": [0.06], "wind_directions": [270.0],
                       "wind_shear": 0.12, "wind_speeds": [8.0], "wind_veer": 0.0},
        "wake": {
            "model_strings": {"combination_model": "sosfs", "deflection_model": "gauss",
                              "turbulence_model": "crespo_hernandez", "velocity_model": "gauss"},
            "enable_secondary_steering": False,
            "enable_yaw_added_recovery": False,
            "enable_transverse_velocities": False,
            "enable_active_wake_mixing": False,
            "wake_deflection_parameters": {"gauss": {"ad": 0.0, "alpha": 0.58, "bd": 0.0,
                                                     "beta": 0.077, "dm": 1.0, "ka": 0.38,
                                                     "kb": 0.004}},
            "wake_velocity_parameters": {"gauss": {"alpha": 0.58, "beta": 0.077, "ka": 0.38,
                                                   "kb": 0.004}},
            "wake_turbulence_parameters": {"crespo_hernandez": {"initial": 0.1, "constant": 0.5,
                                                                "ai": 0.8, "downstream": -0.32}},
        },
    }
    return floris.FlorisModel(config)


def floris_power(layout_x, layout_y, wind_directions, wind_speeds, turbulence_intensities,
                 yaw_angles=None, turbine: str | Path | TurbineCurves = "nrel_5MW_rosco") -> np.ndarray:
    """Turbine powers (n_conditions, n_turbines), W, from FLORIS."""
    fm = floris_model(layout_x, layout_y, turbine)
    fm.set(wind_directions=np.asarray(wind_directions, float),
           wind_speeds=np.asarray(wind_speeds, float),
           turbulence_intensities=np.asarray(turbulence_intensities, float))
    if yaw_angles is not None:
        fm.set(yaw_angles=np.asarray(yaw_angles, float))
    fm.run()
    return fm.get_turbine_powers()
