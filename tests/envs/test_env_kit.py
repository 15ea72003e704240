"""The shared env test kit: every registered twin is checked here the moment it is registered.

The kit ships as :func:`twingym.envs.check_twin` (see :mod:`twingym.envs.check` for what each
check asserts); here every check of :data:`~twingym.envs.check.CHECKS` runs on every registered
twin as its own test.
"""

from __future__ import annotations

import pytest
import twingym.envs as twin_envs
from twingym.envs.check import CHECKS, TwinUnderCheck, run_check

TWIN_IDS = sorted(twin_envs.registered())


@pytest.fixture(scope="module", params=TWIN_IDS)
def twin(request):
    env, params = twin_envs.make(request.param)
    return TwinUnderCheck(env, params, request.param)


@pytest.mark.parametrize("check", list(CHECKS))
def test_env_kit(twin, check):
    result = run_check(check, twin)
    if result.status == "skipped":
        pytest.skip(f"{twin.twin_id}: {result.detail}")
    assert result.passed, f"{twin.twin_id} {check}: {result.detail}"
