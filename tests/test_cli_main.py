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


@pytest.mark.parametrize("twin_id", ["WindFarm-v0", "AssemblyCell-v0", "WindTurbine-v0", "PowerGrid-v0"])
def test_envs_info_shows_spaces_labels_params_with_units_scenarios_and_baselines(twin_id, capsys):
    from twingym.envs import make

    from twingym.cli import app
    from twingym.cli.errors import run_guarded

    assert run_guarded(app, ["envs", "info", twin_id]) == 0
    out = capsys.readouterr().out
    env, params = make(twin_id)
    for label in env.observation_labels(params) + env.action_labels(params):
        assert label.name in out and label.unit in out
    for name in [*env.scenarios(), *env.baselines()]:
        assert name in out
    assert f"{env.reference_baseline} (reference)" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 4}
    expected = {"WindFarm-v0": ("yaw_rate", "0.3", "deg/s"), "AssemblyCell-v0": ("standby_kw", "0.3", "kW"),
                "WindTurbine-v0": ("rotor_radius", "63", "m"), "PowerGrid-v0": ("br_x", "array(", "pu")}
    name, default, unit = expected[twin_id]  # a parameter, its default and its unit from the params class
    assert default in rows[name] and unit in rows[name]


@pytest.mark.parametrize("args, needle", [
    (("envs", "info", "NoSuchTwin-v0"), "unknown twin 'NoSuchTwin-v0'"),
    (("no-such-verb",), "No such command"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(args, needle):
    out = run_cli(*args)
    assert out.returncode != 0
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip() and "─" not in line
                and "│" not in line]) <= 3
