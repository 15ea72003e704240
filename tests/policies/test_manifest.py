"""The typed manifest and validation record: bundles written by every supported format version open."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from twingym.policies import bundle as B
from twingym.policies import manifest as M

DATA = Path(__file__).parent / "data"


def test_a_bundle_written_by_format_1_opens_and_round_trips(tmp_path):
    path = tmp_path / "bundle"
    shutil.copytree(DATA / "bundle_v1", path)
    b = B.load_bundle(path)
    m = b.manifest
    assert isinstance(m, M.Manifest) and m.format_version == 1
    assert m.twin.id == "ToyTank-v0" and m.twin.params_hash.startswith("sha256:")
    assert m.backend == "synthetic" and m.run_id == "fixture-v1"
    assert m.action_labels == [["tank", "valve", "1"]] and m.training_config["agent"]["backend"] == "jax_ppo"
    assert b.observation_space().shape == (3,) and b.action_space().high_array.tolist() == [1.0]
    # the typed manifest serialises back to the very bytes the format-1 writer produced
    assert B.canonical_json(m.to_json()) == (path / B.MANIFEST_FILE).read_bytes()
    record = B.require_validated(b)
    assert isinstance(record, M.ValidationRecord) and record.passed and record.twin == "ToyTank-v0"
    assert record.binding.manifest_sha256 == b.manifest_digest and len(record.digest) == 64


def test_an_older_version_is_migrated_and_an_unknown_one_refused(monkeypatch):
    raw = B._check_sealed((DATA / "bundle_v1" / B.MANIFEST_FILE).read_bytes(), B.DIGEST_KEY, "manifest")
    old = {**raw, "format_version": 0, "run": raw["run_id"]}
    del old["run_id"]
    with pytest.raises(B.BundleError, match="format version 0; this twingym reads version 1"):
        M.Manifest.from_json(old)
    monkeypatch.setitem(M.MIGRATIONS, 0, lambda d: {**d, "format_version": 1, "run_id": d.pop("run")})
    assert M.Manifest.from_json(old).run_id == "fixture-v1"
    with pytest.raises(B.BundleError, match="lacks the field 'backend'"):
        M.Manifest.from_json({k: v for k, v in raw.items() if k != "backend"})
