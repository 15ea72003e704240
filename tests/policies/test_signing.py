"""Signed validation: a failed bundle whose record is flipped to "passed" and resealed with the
package's own function is refused by ``--trust``; so are unsigned records and untrusted signers."""

from __future__ import annotations

import json
import shutil

import pytest
from twingym.policies import bundle as B
from twingym.policies import signing
from twingym.policies.deploy.loop import BundlePolicy, DeployError

from twingym.cli import app
from twingym.cli.errors import run_guarded


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    ours = signing.new_key_pair(folder, "plant")
    theirs = signing.new_key_pair(folder, "stranger")
    return {"key": ours[0], "pub": ours[1], "other_key": theirs[0], "other_pub": theirs[1]}


def _forge_pass(path):
    """What an attacker does: flip every verdict to passed and reseal with the package's own seal()."""
    record = json.loads((path / B.VALIDATION_FILE).read_text())
    record["passed"], record["failed_gates"] = True, []
    for gate in record["gates"]:
        gate["passed"] = True
    (path / B.VALIDATION_FILE).write_bytes(B.canonical_json(B.seal(record, B.VALIDATION_DIGEST_KEY)))


def _inspect(capsys, path, *extra):
    code = run_guarded(app, ["inspect", str(path), *extra])
    return code, capsys.readouterr().out


def test_keys_new_writes_a_private_key_only_its_owner_reads(keys, tmp_path, capsys):
    assert keys["key"].stat().st_mode & 0o777 == 0o600
    (kid,) = signing.load_trusted_keys(keys["pub"])
    assert run_guarded(app, ["keys", "new", "--out", str(tmp_path), "--name", "ops"]) == 0
    assert "twingym deploy BUNDLE --trust" in capsys.readouterr().out
    assert run_guarded(app, ["keys", "new", "--out", str(tmp_path), "--name", "ops"]) == 2  # never overwritten
    assert "already exists" in capsys.readouterr().err
    assert len(kid) == 16


def test_signed_validation_deploys_only_under_a_trusted_key_and_forgeries_are_refused(
        validated_good, degraded_bundle, keys, tmp_path, capsys):
    (kid,) = signing.load_trusted_keys(keys["pub"])
    fresh = tmp_path / "fresh"
    shutil.copytree(validated_good[0], fresh)
    code = run_guarded(app, ["validate", str(fresh), "--episodes", "4", "--sign-key", str(keys["key"])])
    assert code in (0, 1)  # 4 episodes may or may not pass the robustness gate; either verdict is signed
    assert f"signed by key {kid}" in capsys.readouterr().out
    code, out = _inspect(capsys, fresh, "--trust", str(keys["pub"]))
    assert f"signed by key {kid} (plant), trusted" in out

    good = tmp_path / "good"  # the passing record of the full suite, signed
    shutil.copytree(validated_good[0], good)
    b = B.load_bundle(good)
    B.write_validation(b, b.validation(), {B.REPORT_FILE: b.files[B.REPORT_FILE]},
                       signing.load_private_key(keys["key"]))
    code, out = _inspect(capsys, good, "--trust", str(keys["pub"]))
    assert code == 0 and "VALIDATED" in out and "trusted" in out
    assert BundlePolicy(str(good), trust=str(keys["pub"])).validation.passed is True

    # the attack of the report: a failed validation flipped to "passed" and resealed
    failed = tmp_path / "failed"
    shutil.copytree(degraded_bundle, failed)
    record = B.ValidationRecord(passed=False, failed_gates=["performance"], created="2026-12-01T17:00:00+00:00",
                                gates=[{"name": "performance", "figure": -1.0, "threshold": 0.0, "passed": False}])
    B.write_validation(B.load_bundle(failed), record, {})
    _forge_pass(failed)
    code, out = _inspect(capsys, failed)
    assert code == 0 and "VALIDATED" in out and "unsigned" in out   # digests alone cannot tell
    code, out = _inspect(capsys, failed, "--trust", str(keys["pub"]))
    assert "NOT VALIDATED" in out and "unsigned" in out
    with pytest.raises(DeployError, match="unsigned"):
        BundlePolicy(str(failed), trust=str(keys["pub"]))

    # the same with a signed record: the signature no longer matches
    B.write_validation(B.load_bundle(failed), record, {}, signing.load_private_key(keys["key"]))
    with pytest.raises(DeployError, match="failed validation gates"):
        BundlePolicy(str(failed), trust=str(keys["pub"]))
    _forge_pass(failed)
    with pytest.raises(DeployError, match="it was altered"):
        BundlePolicy(str(failed), trust=str(keys["pub"]))
    code, out = _inspect(capsys, failed)
    assert "it was altered" in out and "NOT VALIDATED" in out  # caught even without --trust

    # signed by a key nobody trusts; and a trust file listing several keys
    stranger = tmp_path / "stranger"
    shutil.copytree(validated_good[0], stranger)
    b = B.load_bundle(stranger)
    B.write_validation(b, b.validation(), {B.REPORT_FILE: b.files[B.REPORT_FILE]},
                       signing.load_private_key(keys["other_key"]))
    with pytest.raises(DeployError, match="not in the trusted keys"):
        BundlePolicy(str(stranger), trust=str(keys["pub"]))
    trust_file = tmp_path / "trusted.txt"
    trust_file.write_text("# plant keys\n" + keys["pub"].read_text() + keys["other_pub"].read_text())
    assert BundlePolicy(str(stranger), trust=str(trust_file)).validation.passed is True
    assert BundlePolicy(str(stranger)).validation.passed is True  # no --trust: local experiments


def test_deploy_with_trust_refuses_an_unsigned_bundle_in_one_line(validated_good, keys, capsys):
    code = run_guarded(app, ["deploy", str(validated_good[0]), "--trust", str(keys["pub"]),
                             "--endpoint", "opc.tcp://127.0.0.1:9/twingym/", "--steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unsigned" in err[0]


def test_bad_key_files_are_one_line_errors(tmp_path, validated_good, capsys):
    junk = tmp_path / "junk.pub"
    junk.write_text("ssh-rsa AAAA nope\n")
    for args in (["inspect", str(validated_good[0]), "--trust", str(junk)],
                 ["validate", str(validated_good[0]), "--sign-key", str(tmp_path / "missing.key")]):
        assert run_guarded(app, args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("not a 'twingym-ed25519" in err[0] or "not found" in err[0]), err
