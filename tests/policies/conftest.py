"""Fixtures of the policy tests: synthetic specs exported to ToyTank bundles (built once per session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from specs import degraded_spec, tank_controller_spec  # noqa: E402
from twingym.policies.export import export_spec  # noqa: E402


@pytest.fixture(scope="session")
def good_bundle(tmp_path_factory) -> Path:
    """A ToyTank bundle of a controller that beats the twin's P-controller (not validated yet)."""
    return export_spec(tank_controller_spec(), tmp_path_factory.mktemp("bundles") / "good",
                       twin_id="ToyTank-v0", backend="synthetic", run_id="good")


@pytest.fixture(scope="session")
def validated_good(tmp_path_factory, good_bundle):
    """(bundle path, Outcome) of validating a copy of the good bundle with the default suite."""
    import shutil

    from twingym.policies.validate import validate_bundle
    path = tmp_path_factory.mktemp("validated") / "good"
    shutil.copytree(good_bundle, path)
    return path, validate_bundle(path)


@pytest.fixture(scope="session")
def degraded_bundle(tmp_path_factory) -> Path:
    return export_spec(degraded_spec(), tmp_path_factory.mktemp("bundles") / "degraded",
                       twin_id="ToyTank-v0", backend="synthetic", run_id="degraded")
