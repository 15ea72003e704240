"""`twingym export / validate / inspect`: exit codes, one-line errors, tampered bundles refused."""

from __future__ import annotations

import json
import shutil

import pytest

from twingym.cli import app
from twingym.cli.errors import run_guarded


def _run(capsys, *argv):
    code = run_guarded(app, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _flip(path, index):
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def test_inspect_shows_manifest_spaces_and_status(capsys, validated_good, good_bundle):
    path, _ = validated_good
    code, out, _ = _run(capsys, "inspect", str(path))
    assert code == 0
    for text in ("ToyTank-v0", "Box(3,)", "Box(1,)", "tank.level[m]", "tank.valve[1]", "VALIDATED"):
        assert text in out
    code, out, _ = _run(capsys, "inspect", str(good_bundle))
    assert code == 0 and "NOT VALIDATED" in out


@pytest.mark.parametrize("target", ["policy.onnx", "manifest.json"])
def test_flipped_byte_makes_validate_and_inspect_refuse(capsys, validated_good, tmp_path, target):
    path = tmp_path / "b"
    shutil.copytree(validated_good[0], path)
    _flip(path / target, (path / target).stat().st_size // 3)
    for verb in ("inspect", "validate"):
        code, out, err = _run(capsys, verb, str(path))
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("twingym: error:")
        assert ("digest mismatch" in lines[0] or "modified" in lines[0] or "not valid JSON" in lines[0])
        assert "Traceback" not in out + err


def test_validate_degraded_exits_1_and_names_gates(capsys, degraded_bundle, tmp_path):
    path = tmp_path / "deg"
    shutil.copytree(degraded_bundle, path)
    tight = tmp_path / "tight.yaml"
    tight.write_text("robustness: {max_return_drop_frac: 0.0}\n")  # a tightened gate file is applied
    suite = tmp_path / "suite.yaml"
    code, out, _ = _run(capsys, "validate", str(path), "--gates", str(tight), "--episodes", "8",
                        "--save-suite", str(suite))
    assert code == 1
    assert "validation FAILED" in out and "performance" in out
    # one line names the scenario, the baseline and the interval the policy lost on
    (failed,) = [line for line in out.splitlines() if "validation FAILED" in line]
    assert failed.startswith("validation FAILED: performance: ") and ": policy - p_control return " in failed
    assert "(n=8, loses)" in failed or "(n=8, tie)" in failed
    assert "policy minus every baseline, per scenario" in out
    record = json.loads((path / "validation.json").read_text())
    assert record["gates_config"]["robustness"]["max_return_drop_frac"] == 0.0
    assert suite.is_file() and "sensor_dropout" in suite.read_text()
    code, out, _ = _run(capsys, "inspect", str(path))
    assert code == 0 and "FAILED" in out


def test_user_errors_are_one_line(capsys, good_bundle, tmp_path):
    loose = tmp_path / "loose.yaml"
    loose.write_text("fuzz: {min_ok_frac: 0.5}\n")
    cases = [
        ("validate", str(tmp_path / "missing")),
        ("validate", str(good_bundle), "--gates", str(loose)),
        ("validate", str(good_bundle), "--suite", str(tmp_path / "nosuite.yaml")),
        ("export", str(tmp_path / "norun"), "-o", str(tmp_path / "out")),
        ("inspect", str(tmp_path)),
    ]
    for argv in cases:
        code, _out, err = _run(capsys, *argv)
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1 and err.startswith("twingym: error:"), (argv, err)
