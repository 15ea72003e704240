"""The single definition of bad-observation handling (used by validation and deployment)."""

from __future__ import annotations

import numpy as np
from twingym.policies.sanitize import ObservationGuard, fallback_values, sanitize_observation

LOW = np.array([0.0, -1.0, -np.inf, 5.0], np.float32)
HIGH = np.array([2.0, 1.0, np.inf, np.inf], np.float32)


def test_fallback_values_lie_in_the_space():
    np.testing.assert_array_equal(fallback_values(LOW, HIGH), [1.0, 0.0, 0.0, 5.0])


def test_nonfinite_replaced_by_last_good_and_clipped():
    obs = np.array([np.nan, 3.0, -np.inf, np.inf], np.float32)
    last = np.array([0.5, 0.2, 7.0, 6.0], np.float32)
    clean, bad = sanitize_observation(obs, last, LOW, HIGH)
    np.testing.assert_array_equal(clean, [0.5, 1.0, 7.0, 6.0])  # 3.0 is finite: clipped, not bad
    np.testing.assert_array_equal(bad, [True, False, True, True])
    assert clean.dtype == np.float32


def test_without_history_uses_fallback_values_and_batches():
    obs = np.array([[np.nan, np.nan, np.nan, np.nan], [1.0, 0.5, -3.0, 9.0]], np.float32)
    clean, bad = sanitize_observation(obs, None, LOW, HIGH)
    np.testing.assert_array_equal(clean[0], fallback_values(LOW, HIGH))
    np.testing.assert_array_equal(clean[1], obs[1])
    assert bad.tolist() == [[True] * 4, [False] * 4]


def test_guard_holds_then_falls_back_then_recovers():
    guard = ObservationGuard(LOW[:2], HIGH[:2], max_hold=2)
    clean, fb = guard.update(np.array([1.5, 0.3], np.float32))
    assert not fb and clean.tolist() == [1.5, np.float32(0.3)]
    seq = []
    for _ in range(3):
        clean, fb = guard.update(np.array([np.nan, 0.1], np.float32))
        seq.append((float(clean[0]), bool(fb)))
    assert seq == [(1.5, False), (1.5, False), (1.5, True)]  # two bad steps bridged, the third falls back
    clean, fb = guard.update(np.array([1.0, np.inf], np.float32))
    assert not fb and clean[0] == 1.0 and np.isclose(clean[1], 0.1)


def test_guard_falls_back_when_first_reading_is_bad_and_honours_force_bad():
    guard = ObservationGuard(LOW[:2], HIGH[:2])
    _, fb = guard.update(np.array([[np.nan, 0.0], [1.0, 0.0]], np.float32))
    assert fb.tolist() == [True, False]
    clean, fb = guard.update(np.array([[1.0, 0.0], [1.9, 0.5]], np.float32),
                             force_bad=np.array([[False, False], [True, False]]))
    assert fb.tolist() == [False, False]
    assert clean[1, 0] == 1.0  # the stale (forced bad) reading was replaced by the last good one
