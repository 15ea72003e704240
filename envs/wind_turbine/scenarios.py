"""Named parameter override sets of WindTurbine-v0 for validation (``WindTurbine.scenarios()``).

- ``nominal``: the default episode distribution (mean wind 5..20 m/s, turbulence intensity 10 %).
- ``sensor_noise_x3``: every sensor noise level times three.
- ``gust``: an IEC-like extreme operating gust (``wind.eog_shape``; 3.3-7.3 m/s peak-to-trough
  at 5-20 m/s mean wind, over 10.5 s) starting at a random time in the first 20-60 % of the episode.
- ``wind_ramp``: the mean wind rises by 6 m/s over 30 s (crossing rated from below for the lower
  means), starting at a random time.
- ``high_turbulence``: turbulence intensity 20 % (about IEC class A at 10 m/s, doubled default).
- ``cp_surface_shift``: the rotor produces 8 % less aerodynamic torque and power than the tables
  the controller was tuned on (``cp_scale = 0.92``, ``ct_scale = 0.95``): blade soiling or
  erosion. The documented margin: a controller should still reach rated power above about 12 m/s
  and hold rotor speed within 10 % of rated.
"""

from __future__ import annotations

from typing import Any

SCENARIOS: dict[str, dict[str, Any]] = {
    "nominal": {},
    "sensor_noise_x3": {"sensor_noise": 3.0},
    "gust": {"gust_scale": 1.0},
    "wind_ramp": {"ramp_delta": 6.0, "ramp_duration": 30.0},
    "high_turbulence": {"turbulence_intensity": 0.20},
    "cp_surface_shift": {"cp_scale": 0.92, "ct_scale": 0.95},
}
