"""Validation scenarios of PowerGrid-v0: named PowerGridParams overrides.

* ``nominal``: the default day.
* ``sensor_noise_x3``: measurement noise three times larger (``obs_noise_scale = 3``).
* ``n_minus_1``: one branch out for the whole episode; the branch (``n1_line``) is the most
  loaded one in the case's base flow whose loss keeps every bus connected.
* ``load_surge``: every load 15% above its profile.
* ``renewable_drop``: wind and solar deliver 30% of their normal availability.
* ``line_impedance_shift``: every branch's series impedance 10% higher than the model the policy
  was trained on (a documented model-error margin of +-10%).
"""

SCENARIOS: dict[str, dict[str, float]] = {
    "nominal": {},
    "sensor_noise_x3": {"obs_noise_scale": 3.0},
    "n_minus_1": {"n1_outage": 1.0},
    "load_surge": {"load_scale": 1.15},
    "renewable_drop": {"renewable_scale": 0.3},
    "line_impedance_shift": {"impedance_scale": 1.1},
}
