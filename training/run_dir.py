"""The run directory every ``twingym train`` writes, whatever the backend.

Layout (``RUN`` = ``<run.root>/<run.name>``, by default ``runs/<twin>_<backend>_<YYYYmmdd-HHMMSS>``)::

    RUN/
      config.yaml        the resolved config (every default written out); `--resume` reads it back
      events.out.tfevents.*   TensorBoard scalars: episode return/cost, losses, entropy, learning
                         rate, env steps/s, eval return and the reference baseline's return
      metrics.jsonl      one JSON object per log step: {"step": env steps, "time": s, <metric>: value}
      checkpoints/       backend-specific resumable state, one sub-folder per checkpoint
        step_000000123/  (JAX PPO: state.npz (full train-state pytree incl. RNG key) + meta.json;
                          SB3: model.zip + vecnormalize.pkl; RLlib: an Algorithm checkpoint)
      final/             the final policy in the backend's own format + observation statistics:
                          JAX PPO: policy.npz + policy.json; SB3: model.zip, vecnormalize.pkl,
                          obs_stats.npz, policy.json; RLlib: module/ (RLModule state) + obs_stats.npz
                          + policy.json
      summary.json       backend, twin id, env params overrides, env steps, wall time, final
                         evaluation (policy vs reference baseline, paired return difference with 95% CI)
      .lock              held (``filelock``) by the one ``twingym train`` writing the run

A run that fails before it logged anything or wrote a checkpoint leaves no directory behind
(:func:`remove_if_unstarted`). Resuming drops the metrics logged after the checkpoint it continues
from, in ``metrics.jsonl`` and (by a TensorBoard ``SessionLog.START`` purge) in the event files, so
every step appears once. A checkpoint that cannot be written (full disk) is removed whole and
reported as one :class:`CheckpointWriteError`; the earlier checkpoints stay resumable.

Export and validation read ``config.yaml`` and ``final/`` through
``twingym.agents.policy_spec_from_run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from twingym.jsonlines import json_safe

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINTS = "checkpoints"
FINAL = "final"
LOCK_FILE = ".lock"


class RunDirError(ValueError):
    """The run directory cannot be used (root is a file, not writable, or in use): one line to the user."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (``errno`` kept); the message says how to resume."""


def default_run_name(twin: str, backend: str) -> str:
    return f"{twin}_{backend}_{time.strftime('%Y%m%d-%H%M%S')}"


def check_root(root: str | Path) -> Path:
    """``root`` as a folder run directories can go in (created later), or :class:`RunDirError`."""
    root = Path(root)
    for folder in (root, *root.parents):
        if folder.exists():
            if not folder.is_dir():
                raise RunDirError(f"run.root {str(root)!r}: {str(folder)!r} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise RunDirError(f"run.root {str(root)!r}: folder {str(folder)!r} is not writable")
            break
    return root


def create_run_dir(root: str | Path, name: str) -> Path:
    """Create ``root/name``; a name already taken gets a ``-2``, ``-3``... suffix."""
    base = check_root(root) / name
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    try:
        path.mkdir(parents=True)
    except OSError as err:
        raise RunDirError(f"cannot create run directory {str(path)!r}: {err.strerror or err}") from None
    return path


def has_progress(path: str | Path) -> bool:
    """Whether the run logged a metric or wrote a checkpoint (a run without either never started)."""
    metrics = Path(path) / METRICS_FILE
    return bool(list_checkpoints(Path(path))) or (metrics.is_file() and metrics.stat().st_size > 0) \
        or (Path(path) / FINAL).exists()


def remove_if_unstarted(path: str | Path) -> bool:
    """Delete a run directory holding only what the start wrote; return whether it was removed."""
    path = Path(path)
    if not path.is_dir() or has_progress(path):
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True


@contextlib.contextmanager
def run_lock(path: str | Path) -> Iterator[None]:
    """Hold ``RUN/.lock`` while training into ``path``; a second holder gets :class:`RunDirError` at once."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(Path(path) / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirError(f"run directory {str(path)!r} is in use by another twingym train "
                          f"(lock {LOCK_FILE} held); wait for it to finish") from None
    try:
        yield
    finally:
        lock.release()


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def require_run_dir(path: str | Path) -> Path:
    """``path`` as a run directory, or ``FileNotFoundError`` saying what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {str(path)!r} does not exist")
    if not is_run_dir(path):
        raise FileNotFoundError(f"{str(path)!r} is not a run directory (no {CONFIG_FILE})")
    return path


class TensorBoardWriter:
    """Scalar-only TensorBoard event writer (tensorboard's own writer; no torch or TF needed)."""

    def __init__(self, logdir: str | Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(logdir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=k, simple_value=float(v))
                                             for k, v in values.items() if np.isfinite(v)])
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def purge_after(self, step: int) -> None:
        """Tell TensorBoard to drop the events of earlier files with a step after ``step``."""
        from tensorboard.compat.proto import event_pb2

        start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step) + 1, session_log=start))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (a torn last line, as after a kill, is skipped)."""
    metrics = Path(run_dir) / METRICS_FILE
    rows = []
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict) and isinstance(row.get("step"), int):
                    rows.append(row)
    return rows


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class RunLogger:
    """Writes every log step to TensorBoard and ``metrics.jsonl`` (values as plain floats).

    ``resume_step``: the env step of the checkpoint a resumed run continues from; rows logged
    after it (they will be logged again) are dropped from ``metrics.jsonl`` and purged from
    TensorBoard's view, so each step appears once.
    """

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        rows = read_metrics(self.run_dir)
        if resume_step is not None and (self.run_dir / METRICS_FILE).is_file():
            rows = [r for r in rows if r["step"] <= resume_step]
            _write_text_atomic(self.run_dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in rows))
        self.tb = TensorBoardWriter(self.run_dir)
        if resume_step is not None:
            self.tb.purge_after(resume_step)
        self.last: dict[str, float] = {}
        for row in rows:  # resuming: remember the latest value of every metric
            self.last.update({k: v for k, v in row.items() if isinstance(v, float | int)})
        self._jsonl = open(self.run_dir / METRICS_FILE, "a")  # noqa: SIM115 - closed in close()
        self.start = time.time()

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        clean = {k: float(np.asarray(v)) for k, v in metrics.items() if v is not None}
        self.tb.scalars(step, clean)
        line = {"step": int(step), "time": round(time.time() - self.start, 3)}
        line.update({k: (v if np.isfinite(v) else None) for k, v in clean.items()})
        self._jsonl.write(json.dumps(line) + "\n")
        self._jsonl.flush()
        self.last.update({k: v for k, v in clean.items() if np.isfinite(v)})

    def close(self) -> None:
        """Close both writers. A failure to flush (full disk) is raised, unless ``close`` runs while
        another error is already on its way up (from a ``finally``): that one is the one to report."""
        import sys

        propagating = sys.exc_info()[1] is not None
        try:
            try:
                self.tb.close()
            finally:
                self._jsonl.close()
        except OSError:
            if not propagating:
                raise


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step_{int(step):012d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (those with ``meta.json``), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "meta.json").is_file())


def save_checkpoint(run_dir: Path, steps: int, write: Callable[[Path], None], meta: dict[str, Any],
                    keep: int) -> Path:
    """Write one checkpoint with ``write(folder)``, then ``meta.json``, then prune to ``keep``.

    On an ``OSError`` (full disk, quota) the partial folder is deleted and
    :class:`CheckpointWriteError` says which step was lost and how to resume from the last one.
    """
    path = checkpoint_dir(run_dir, steps)
    try:
        path.mkdir(parents=True, exist_ok=True)
        write(path)
        write_checkpoint_meta(path, meta)
    except OSError as err:
        shutil.rmtree(path, ignore_errors=True)
        done = list_checkpoints(run_dir)
        kept = f"the last complete one ({done[-1].name}) is kept" if done else "no earlier checkpoint exists"
        raise CheckpointWriteError(err.errno, f"checkpoint at step {int(steps):,} not written "
                                   f"({err.strerror or err}); {kept}; free space, then "
                                   f"twingym train --resume {run_dir}") from None
    prune_checkpoints(run_dir, keep)
    return path


def write_checkpoint_meta(path: Path, meta: dict[str, Any]) -> None:
    """Written last: a checkpoint without ``meta.json`` is incomplete and ignored."""
    (path / "meta.json").write_text(json.dumps(meta, indent=2))


def read_checkpoint_meta(path: Path) -> dict[str, Any]:
    return json.loads((Path(path) / "meta.json").read_text())


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    (Path(run_dir) / SUMMARY_FILE).write_text(json.dumps(json_safe(summary), indent=2))


