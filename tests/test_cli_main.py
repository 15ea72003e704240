"""The ``twingym`` command: listing twins, help, and one-line errors with non-zero exits."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from twingym.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_design_verb():
    out = run_cli("--help")
    assert out.returncode == 0
    for verb in ("envs", "train", "evaluate", "export", "validate", "inspect", "twin", "deploy",
                 "bench", "sweep", "pipeline"):
        assert verb in out.stdout, f"verb {verb} missing from --help"


def test_envs_lists_builtin_twins_with_spaces():
    import twingym.envs as twin_envs

    out = run_cli("envs")
    assert out.returncode == 0, out.stderr
    for twin_id in twin_envs.BUILTIN_TWINS:
        assert twin_id in out.stdout


@pytest.mark.parametrize("args, needle", [
    (("envs", "NoSuchTwin-v0"), "unknown twin 'NoSuchTwin-v0'"),
    (("no-such-verb",), "No such command"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(args, needle):
    out = run_cli(*args)
    assert out.returncode != 0
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip() and "─" not in line
                and "│" not in line]) <= 3
