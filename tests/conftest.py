"""Suite-wide setup: the test-only twins are registered for every test (they never ship)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

TESTS_ENVS = Path(__file__).parent / "envs"
if str(TESTS_ENVS) not in sys.path:
    sys.path.insert(0, str(TESTS_ENVS))

import pytest  # noqa: E402
import twingym.envs as twin_envs  # noqa: E402
from compiled_programs import release_compiled_programs  # noqa: E402

#: test-only twins: id -> entry point (importable because tests/envs is on sys.path).
TEST_TWINS = {
    "ToyTank-v0": "toy_twin:ToyTank",
    "ToyTankDiscrete-v0": "toy_twin:ToyTankDiscrete",
}
for _id, _entry in TEST_TWINS.items():
    if _id not in twin_envs.registered():
        twin_envs.register(_id, _entry, description="test-only twin", max_episode_steps=100)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs_after_module():
    """Each test module's compiled programs are freed when it ends, so a long test process does not
    run out of memory mappings (see :mod:`compiled_programs`)."""
    yield
    release_compiled_programs()
