"""The run directory under stress: a full disk during a checkpoint, two trainers on one run, failed
starts, absurd batch sizes and a run root that is a file. Each case ends in one line and a non-zero
exit, and what was written before stays usable."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from twingym.training import jax_loop
from twingym.training import run_dir as rd

from twingym.cli import app
from twingym.cli.errors import run_guarded

CFG = """\
twin: ToyTank-v0
total_steps: 768
seed: 3
agent: {backend: jax_ppo, num_envs: 4, rollout_steps: 32, num_minibatches: 2, num_epochs: 2,
        updates_per_chunk: 2, hidden_sizes: [16, 16]}
eval: {episodes: 8, every_steps: 512, during_episodes: 8}
checkpoint: {keep: 2}
run: {progress: false}
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CFG)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("twingym: error:"), err
    return err[0]


def test_full_disk_during_a_checkpoint_is_one_line_and_resume_logs_each_step_once(tmp_path, capsys,
                                                                                   monkeypatch):
    real_save, calls = jax_loop.save_state, []

    def save_until_the_disk_fills(path, state):
        calls.append(path)
        if len(calls) == 3:  # the checkpoint at step 768: half a file, then ENOSPC
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_save(path, state)

    monkeypatch.setattr(jax_loop, "save_state", save_until_the_disk_fills)
    code = run_guarded(app, ["train", str(_config(tmp_path)), "--set", f"run.root={tmp_path}",
                             "--set", "run.name=full"])
    line = _one_error_line(capsys)
    run = tmp_path / "full"
    assert code == 1 and "No space left on device" in line and "--resume" in line
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000000000256", "step_000000000512"]
    logged = [r["step"] for r in rd.read_metrics(run) if "loss/policy" in r]
    assert logged[-1] == 768  # steps after the last complete checkpoint had been logged

    monkeypatch.setattr(jax_loop, "save_state", real_save)
    assert run_guarded(app, ["train", "--resume", str(run)]) == 0
    rows = rd.read_metrics(run)
    assert [r["step"] for r in rows if "loss/policy" in r] == [128 * i for i in range(1, 7)]
    evals = [r["step"] for r in rows if "eval/return" in r]
    assert len(evals) == len(set(evals)) and 512 in evals

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    assert [e.step for e in events.Scalars("loss/policy")] == [128 * i for i in range(1, 7)]

    # the resumed run equals one that never failed
    clean = tmp_path / "clean"
    assert run_guarded(app, ["train", str(_config(tmp_path)), "--set", f"run.root={tmp_path}",
                             "--set", "run.name=clean"]) == 0
    with np.load(clean / "final" / "policy.npz") as a, np.load(run / "final" / "policy.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def test_a_second_trainer_on_a_run_in_use_is_refused(tmp_path, capsys):
    cfg = _config(tmp_path)
    run = tmp_path / "busy"
    from twingym.training import driver
    from twingym.training.config import load_config

    driver.train(load_config(str(cfg), [f"run.root={tmp_path}", "run.name=busy"]), stop_after_chunks=1)
    before = (run / rd.METRICS_FILE).read_text()
    holder = subprocess.Popen(  # another process holds the run, as a running `train --resume` would
        [sys.executable, "-c", "import sys; from filelock import FileLock; l = FileLock(sys.argv[1]); "
         "l.acquire(); print('held', flush=True); sys.stdin.read()", str(run / rd.LOCK_FILE)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_guarded(app, ["train", "--resume", str(run)]) == 2
        assert "in use by another twingym train" in _one_error_line(capsys)
        assert (run / rd.METRICS_FILE).read_text() == before  # nothing written by the refused one
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert run_guarded(app, ["train", "--resume", str(run)]) == 0  # free again: it completes


def test_a_start_that_fails_before_the_first_step_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    def broken_build(cfg):
        raise ValueError("the twin refused these params")

    monkeypatch.setattr(jax_loop, "build", broken_build)
    assert run_guarded(app, ["train", str(_config(tmp_path)), "--set", f"run.root={tmp_path}"]) == 2
    assert "refused these params" in _one_error_line(capsys)
    assert not list(tmp_path.glob("ToyTank*"))


@pytest.mark.parametrize("sets, needle", [
    (["agent.num_envs=1000000000"], "at most 16,777,216"),
    (["agent.num_envs=1048576", "agent.rollout_steps=4096"], "int32 indexing"),
    (["agent.num_minibatches=3"], "must be divisible"),
    (["run.root={tmp}/c.yaml"], "is a file, not a folder"),
    (["run.root={tmp}/c.yaml/runs"], "is a file, not a folder"),
])
def test_absurd_sizes_and_a_file_as_run_root_fail_before_anything_is_written(tmp_path, capsys, sets, needle):
    cfg = _config(tmp_path)
    args = ["train", str(cfg), "--set", f"run.root={tmp_path}"]
    for item in sets:
        args += ["--set", item.format(tmp=tmp_path)]
    assert run_guarded(app, args) == 2
    assert needle in _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]
    assert cfg.read_text() == CFG
