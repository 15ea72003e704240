"""Slow: on a live twin at a high speed factor, the deployed policy's return agrees with validation.

The bundle is validated for real (``validate_bundle``, default suite and gates); the live run goes
through OPC UA, the deploy runtime's safety layer and watchdog, in wall-clock time.
"""

from __future__ import annotations

import math

import pytest
from live_helpers import make_bundle
from twingym.policies.bundle import load_bundle, require_validated
from twingym.policies.validate import validate_bundle

from twingym.bench.live import live_vs_validation


@pytest.mark.slow
def test_live_return_agrees_with_validation_nominal(tmp_path):
    path = make_bundle(tmp_path / "tank", validated=False)
    outcome = validate_bundle(path)
    assert outcome.passed, outcome.failed_gates
    require_validated(load_bundle(path))
    result = live_vs_validation(path, episodes=6, period=0.02, out_dir=tmp_path / "live")
    assert result["episodes"] >= 4 and result["fallbacks"] == 0
    assert math.isfinite(result["live_mean"])
    assert result["agree"], (result["live_mean"], result["validation_mean"], result["combined_ci95"])
    print({k: v for k, v in result.items() if k != "live_returns"})   # figures for the log (-s)
