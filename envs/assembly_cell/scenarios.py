"""Validation scenarios of AssemblyCell-v0: named parameter overrides of the default cell.

=====================  ==================================================================================
name                   what changes (margins are relative to the default parameters)
=====================  ==================================================================================
nominal                nothing
sensor_noise_x3        wear sensor noise std x3 (0.03 -> 0.09 wear units)
station_breakdowns     wear-independent breakdowns: each up station fails with prob. 0.004 per cycle
                       (about 1.2 extra failures per station per day), on top of wear failures
demand_spike           order rate x1.5 (0.6 -> 0.9 parts/cycle) from 08:00 to 14:00 each day
price_spike            electricity price x4 from 16:00 to 20:00 (peak 0.45 -> 1.80 EUR/kWh)
failure_rate_shift     parameter shift: failure hazard x1.5 at every wear level (documented margin:
                       +50 % failure rate, i.e. the twin is off by that much from the real cell)
=====================  ==================================================================================
"""

from __future__ import annotations

from typing import Any

SCENARIOS: dict[str, dict[str, Any]] = {
    "nominal": {},
    "sensor_noise_x3": {"sensor_noise_std": 0.09},
    "station_breakdowns": {"forced_breakdown_prob": 0.004},
    "demand_spike": {"demand_spike_factor": 1.5, "demand_spike_start": 8.0, "demand_spike_hours": 6.0},
    "price_spike": {"price_spike_factor": 4.0, "price_spike_start": 16.0, "price_spike_hours": 4.0},
    "failure_rate_shift": {"hazard_scale": 1.5},
}

#: the relative parameter margin of the shift scenario (hazard multiplier - 1).
FAILURE_RATE_SHIFT_MARGIN = 0.5
