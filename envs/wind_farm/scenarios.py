"""Validation scenarios of WindFarm-v0: named parameter override sets.

| name | what changes | margin |
|---|---|---|
| ``nominal`` | nothing | |
| ``sensor_noise_x3`` | every sensor's noise std | x3 |
| ``gusts`` | gust rate and size | 12 per hour (from 2), mean bump 4 m/s (from 2.5) |
| ``direction_ramp`` | a deterministic direction drift | +30 deg over the hour |
| ``high_turbulence`` | turbulence intensity range and direction fluctuations | TI 0.12-0.18 (from 0.04-0.12), 5 deg (from 3) |
| ``turbine_curve_shift`` | true power vs the tabulated curve the controllers assume | -5 % |
| ``direction_swing`` | spread of the per-episode direction drift | std 30 deg/h (from 10), either way |
| ``slow_yaw`` | yaw drive rate limit | 0.15 deg/s (from 0.3): 4.5 deg per step |
| ``slow_wake_advection`` | wake advection delay | x1.5: wakes travel at 2/3 of the free stream |

The last three are the dynamic-wind cases a static lookup handles worst: the wind moves while
the yaw drives lag behind it, and a yaw change reaches the downstream rotors only after the wake
has travelled there.
"""

from __future__ import annotations

SCENARIOS: dict[str, dict[str, float]] = {
    "nominal": {},
    "sensor_noise_x3": {"sensor_noise": 3.0},
    "gusts": {"gust_rate": 12.0 / 3600.0, "gust_amplitude": 4.0},
    "direction_ramp": {"wd_drift_rate": 30.0 / 3600.0},
    "high_turbulence": {"ti_low": 0.12, "ti_high": 0.18, "wd_fluct_std": 5.0},
    "turbine_curve_shift": {"power_curve_scale": 0.95},
    "direction_swing": {"wd_drift_std": 30.0 / 3600.0},
    "slow_yaw": {"yaw_rate": 0.15},
    "slow_wake_advection": {"wake_delay": 1.5},
}
