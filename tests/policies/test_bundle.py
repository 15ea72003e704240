"""Bundle format: digests, tamper detection (every byte of the manifest), zip bundles, validation binding."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
from specs import random_spec
from twingym.envs import make
from twingym.policies import bundle as B
from twingym.policies.export import ExportFailed, export_spec


def _flip(path, index):
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def test_manifest_contents(good_bundle):
    b = B.load_bundle(good_bundle)
    m = b.manifest
    _env, params = make("ToyTank-v0")
    assert m.format_version == B.FORMAT_VERSION
    assert m.twin.id == "ToyTank-v0" and m.twin.params_hash == B.params_hash(params)
    assert m.files[B.POLICY_FILE] == B.sha256_bytes((good_bundle / B.POLICY_FILE).read_bytes())
    assert m.observation_labels == [["tank", "level", "m"], ["tank", "reference", "m"],
                                    ["twin", "episode_progress", "1"]]
    assert m.action_labels == [["tank", "valve", "1"]]
    assert b.action_space().low_array.tolist() == [0.0] and b.observation_space().shape == (3,)
    assert m.backend == "synthetic" and m.run_id == "good"


def test_params_hash_tracks_params():
    _env, params = make("ToyTank-v0")
    assert B.params_hash(params) == B.params_hash(make("ToyTank-v0")[1])
    assert B.params_hash(params) != B.params_hash(make("ToyTank-v0", noise_std=0.02)[1])
    assert B.params_hash(params) != B.params_hash(params.replace(max_steps=101))  # static field


def test_every_flipped_manifest_byte_is_refused(good_bundle, tmp_path):
    """Each of the manifest's bytes flipped in turn (in memory, the check load_bundle runs), and a
    spread of them through load_bundle from disk."""
    path = tmp_path / "b"
    shutil.copytree(good_bundle, path)
    manifest = path / B.MANIFEST_FILE
    original = manifest.read_bytes()
    for i in range(len(original)):
        data = bytearray(original)
        data[i] ^= 0x01
        with pytest.raises(B.BundleError) as err:
            B._check_sealed(bytes(data), B.DIGEST_KEY, "manifest.json")
        assert "\n" not in str(err.value)
    for i in np.linspace(0, len(original) - 1, 40).astype(int):
        _flip(manifest, int(i))
        with pytest.raises(B.BundleError, match="manifest"):
            B.load_bundle(path)
        manifest.write_bytes(original)
    B.load_bundle(path)


def test_flipped_policy_bytes_are_refused(good_bundle, tmp_path):
    path = tmp_path / "b"
    shutil.copytree(good_bundle, path)
    policy = path / B.POLICY_FILE
    original = policy.read_bytes()
    for i in np.linspace(0, len(original) - 1, 25).astype(int):
        _flip(policy, int(i))
        with pytest.raises(B.BundleError, match=r"policy.onnx digest mismatch"):
            B.load_bundle(path)
        policy.write_bytes(original)


def test_missing_files_and_paths(good_bundle, tmp_path):
    with pytest.raises(B.BundleError, match="does not exist"):
        B.load_bundle(tmp_path / "nope")
    path = tmp_path / "b"
    shutil.copytree(good_bundle, path)
    (path / B.POLICY_FILE).unlink()
    with pytest.raises(B.BundleError, match=r"missing policy.onnx"):
        B.load_bundle(path)
    (path / B.MANIFEST_FILE).unlink()
    with pytest.raises(B.BundleError, match=r"no manifest.json"):
        B.load_bundle(path)


def test_zip_bundle_round_trip_and_tamper(good_bundle, tmp_path):
    spec = random_spec(3, "scale_clip", out=1, low=np.zeros(1), high=np.ones(1))
    zpath = export_spec(spec, tmp_path / "b.zip", twin_id="ToyTank-v0")
    assert zipfile.is_zipfile(zpath)
    b = B.load_bundle(zpath)
    assert b.is_zip and b.reference_spec().action_transform == "scale_clip"
    # a zip made by hand of a bundle folder (one top-level directory) loads too
    folder_zip = tmp_path / "folder.zip"
    with zipfile.ZipFile(folder_zip, "w") as zf:
        for f in good_bundle.iterdir():
            zf.write(f, f"good/{f.name}")
    assert B.load_bundle(folder_zip).twin_id == "ToyTank-v0"
    files = dict(b.files)
    files[B.POLICY_FILE] = files[B.POLICY_FILE][:-1] + bytes([files[B.POLICY_FILE][-1] ^ 1])
    (tmp_path / "bad.zip").write_bytes(B.zip_bytes(files))
    with pytest.raises(B.BundleError, match=r"policy.onnx digest mismatch"):
        B.load_bundle(tmp_path / "bad.zip")


def test_export_refuses_existing_output_and_mismatched_twin(tmp_path):
    spec = random_spec(3, "clip", out=1, low=np.zeros(1), high=np.ones(1))
    export_spec(spec, tmp_path / "b", twin_id="ToyTank-v0")
    with pytest.raises(B.BundleError, match="already exists"):
        export_spec(spec, tmp_path / "b", twin_id="ToyTank-v0")
    export_spec(spec, tmp_path / "b", twin_id="ToyTank-v0", overwrite=True)
    with pytest.raises(ExportFailed, match="observation components"):
        export_spec(random_spec(4, "clip", out=1), tmp_path / "c", twin_id="ToyTank-v0")
    with pytest.raises(ExportFailed, match="outside the twin's action space"):
        export_spec(random_spec(3, "clip", out=1, low=np.zeros(1), high=np.full(1, 2.0)), tmp_path / "d",
                    twin_id="ToyTank-v0")
    with pytest.raises(ExportFailed, match="MultiDiscrete"):
        export_spec(random_spec(3, "multi_argmax", nvec=(3, 4)), tmp_path / "e", twin_id="ToyTankDiscrete-v0")


def _fake_validation(bundle, passed=True):
    gates = [{"name": "performance", "passed": passed}, {"name": "safety", "passed": True}]
    return B.write_validation(bundle, B.ValidationRecord(gates=gates, passed=passed),
                              {"report.html": b"<html></html>"})


def test_require_validated(good_bundle, tmp_path):
    path = tmp_path / "b"
    shutil.copytree(good_bundle, path)
    with pytest.raises(B.BundleError, match="has not been validated"):
        B.require_validated(B.load_bundle(path))
    _fake_validation(B.load_bundle(path), passed=False)
    with pytest.raises(B.BundleError, match="failed validation gates: performance"):
        B.require_validated(B.load_bundle(path))
    _fake_validation(B.load_bundle(path), passed=True)
    record = B.require_validated(B.load_bundle(path))
    assert record.binding.policy_onnx_sha256 == B.sha256_bytes((path / B.POLICY_FILE).read_bytes())
    # validation.json edited to claim a pass it did not have
    vpath = path / B.VALIDATION_FILE
    original = vpath.read_bytes()
    data = json.loads(original)
    data["gates"][0]["passed"] = False
    vpath.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    with pytest.raises(B.BundleError, match=r"validation.json digest mismatch"):
        B.require_validated(B.load_bundle(path))
    vpath.write_bytes(original)
    # the report changed after validation
    (path / "report.html").write_text("<html>edited</html>")
    with pytest.raises(B.BundleError, match=r"report.html"):
        B.require_validated(B.load_bundle(path))


def test_validation_is_bound_to_the_exact_policy(good_bundle, tmp_path):
    """A validation.json copied next to a different (re-exported) policy does not count."""
    path = tmp_path / "b"
    shutil.copytree(good_bundle, path)
    _fake_validation(B.load_bundle(path))
    other = tmp_path / "other"
    export_spec(random_spec(3, "clip", out=1, low=np.zeros(1), high=np.ones(1)), other, twin_id="ToyTank-v0")
    shutil.copy(path / B.VALIDATION_FILE, other / B.VALIDATION_FILE)
    shutil.copy(path / "report.html", other / "report.html")
    with pytest.raises(B.BundleError, match=r"different policy.onnx"):
        B.require_validated(B.load_bundle(other))


def test_zip_bundle_validation_written_into_archive(tmp_path):
    spec = random_spec(3, "clip", out=1, low=np.zeros(1), high=np.ones(1))
    zpath = export_spec(spec, tmp_path / "b.zip", twin_id="ToyTank-v0")
    _fake_validation(B.load_bundle(zpath))
    assert B.require_validated(B.load_bundle(zpath)).passed is True
    with zipfile.ZipFile(zpath) as zf:
        assert {B.VALIDATION_FILE, "report.html", B.POLICY_FILE} <= set(zf.namelist())


def test_run_directory_is_read_by_the_training_schema(tmp_path):
    from twingym.policies.export import run_info

    run = tmp_path / "ToyTank-v0_jax_ppo_x"
    run.mkdir()
    (run / "config.yaml").write_text("twin: ToyTank-v0\nenv_params: {noise_std: 0.02}\ntotal_steps: 64\n"
                                     "agent: {backend: jax_ppo}\n")
    info = run_info(run)
    assert info.config.twin == "ToyTank-v0" and info.config.env_params == {"noise_std": 0.02}
    assert info.config.backend == "jax_ppo" and info.run_id == run.name and info.raw["total_steps"] == 64
    (run / "config.yaml").write_text("env: ToyTank-v0\ntotal_steps: 64\nagent: {backend: jax_ppo}\n")
    with pytest.raises(ExportFailed) as err:
        run_info(run)
    assert "missing config key 'twin'" in str(err.value) and "\n" not in str(err.value)
    (run / "config.yaml").write_text("twin: [unclosed\n")
    with pytest.raises(ExportFailed, match="not valid YAML"):
        run_info(run)
    with pytest.raises(ExportFailed, match="not a training run directory"):
        run_info(tmp_path)
