"""The baseline grid search of AssemblyCell-v0: deterministic for a seed, the argmax of its own table,
never worse than the untuned defaults, written where the twin's default params read it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import twingym.envs as twin_envs
from twingym.envs.assembly_cell import baselines as ac_baselines
from twingym.envs.assembly_cell import tuned
from twingym.envs.assembly_cell.types import AssemblyCellParams
from twingym.policies import baseline_tuning as bt
from twingym.training.evaluate import rollout

EPISODES, SEED = 24, 3
#: a small grid holding the untuned defaults (the dataclass defaults) and values far from them
UNTUNED = {"pm_period": AssemblyCellParams.pm_period, "pm_wear_threshold": AssemblyCellParams.pm_wear_threshold}
GRID = {"periodic_maintenance": ("pm_period", (30, UNTUNED["pm_period"], 250)),
        "wear_threshold": ("pm_wear_threshold", (0.15, UNTUNED["pm_wear_threshold"], 0.9))}


@pytest.fixture(scope="module")
def cell():
    return twin_envs.make("AssemblyCell-v0")


@pytest.fixture(scope="module")
def tuning(cell):
    env, params = cell
    return bt.tune_baselines(env, params, episodes=EPISODES, seed=SEED, grid=GRID)


def test_tuner_is_deterministic_and_picks_the_argmax_of_its_table(cell, tuning):
    env, params = cell
    again = bt.tune_baselines(env, params, episodes=EPISODES, seed=SEED, grid=GRID)
    assert again.rows() == tuning.rows()
    rows = tuning.rows()
    assert [r["value"] for r in rows] == [float(v) for _, values in GRID.values() for v in values]
    for name, (field, _) in GRID.items():
        mine = [r for r in rows if r["baseline"] == name]
        best = max(mine, key=lambda r: r["return"][0])
        assert tuning.values()[field] == best["value"] and best["chosen"]
        assert sum(r["chosen"] for r in mine) == 1
        # the reward is profit x reward_scale, so the profit-per-shift column has the same argmax
        assert max(mine, key=lambda r: r["profit_eur"][0]) is best
        # the grid matters: the values far from the optimum lose to it by a clear margin
        assert best["return"][0] > min(r["return"][0] for r in mine) + 2.0
    other = bt.tune_baselines(env, params, episodes=EPISODES, seed=SEED + 1, grid=GRID)
    assert other.rows() != tuning.rows()


def test_tuned_baseline_is_at_least_as_good_as_the_untuned_default_on_the_tuning_seeds(cell, tuning, tmp_path):
    env, params = cell
    path = bt.write_tuned(env, tuning, "twingym evaluate --tune-baselines", tmp_path / "tuned.json")
    values = tuned.tuned_values(path)
    assert values == tuning.values() and isinstance(values["pm_period"], int)
    keys = bt.tuning_keys(SEED, EPISODES)
    for name in GRID:
        # the evaluation path's own rollout (not the tuner's) on the tuning episodes
        tuned_ret = rollout(env, params.replace(**values), env.baselines()[name], keys, params.max_steps)[0]
        default_ret = rollout(env, params.replace(**UNTUNED), env.baselines()[name], keys, params.max_steps)[0]
        assert tuned_ret.mean() >= default_ret.mean()
        np.testing.assert_allclose(tuned_ret, tuning.chosen[name].returns, rtol=1e-5, atol=1e-4)


def test_tuning_seeds_are_disjoint_from_evaluation_seeds():
    from twingym.training.evaluate import episode_keys

    bt.check_disjoint(bt.tuning_keys(bt.TUNING_SEED, bt.TUNING_EPISODES), episode_keys(12345, 256))
    with pytest.raises(ValueError, match="tuning episodes are also evaluation episodes"):
        bt.check_disjoint(bt.tuning_keys(5, 16), episode_keys(5, 8))


def test_evaluate_tune_baselines_writes_the_values_the_twin_then_uses(monkeypatch, tmp_path, capsys):
    from twingym.cli import app
    from twingym.cli.errors import run_guarded

    path = tmp_path / "tuned_baselines.json"
    monkeypatch.setattr(tuned, "TUNED_FILE", path)
    monkeypatch.setattr(ac_baselines, "TUNING_GRID", {"wear_threshold": GRID["wear_threshold"]})
    monkeypatch.setattr(bt, "TUNING_EPISODES", 16)
    argv = ["evaluate", "baseline:wear_threshold", "--twin", "AssemblyCell-v0", "--episodes", "8",
            "--tune-baselines"]
    assert run_guarded(app, argv) == 0
    out = capsys.readouterr().out
    record = json.loads(path.read_text())
    chosen = record["values"]["pm_wear_threshold"]
    assert f"pm_wear_threshold = {chosen:g}" in out and "profit" in out and "baseline wear_threshold" in out
    assert record["tuning"]["seed"] == bt.TUNING_SEED and record["tuning"]["episodes"] == 16
    assert len(record["tuning"]["table"]) == len(GRID["wear_threshold"][1])
    assert twin_envs.make("AssemblyCell-v0")[1].pm_wear_threshold == pytest.approx(chosen)
    # a twin without tunable baselines: one clear line, nothing written
    path.unlink()
    assert run_guarded(app, ["evaluate", "baseline:greedy", "--twin", "WindFarm-v0", "--tune-baselines"]) != 0
    assert "no tunable baselines" in capsys.readouterr().err and not path.exists()
