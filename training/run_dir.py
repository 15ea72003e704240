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

Export and validation read ``config.yaml`` and ``final/`` through
``twingym.agents.policy_spec_from_run``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from twingym.jsonlines import json_safe

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINTS = "checkpoints"
FINAL = "final"


def default_run_name(twin: str, backend: str) -> str:
    return f"{twin}_{backend}_{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(root: str | Path, name: str) -> Path:
    """Create ``root/name``; a name already taken gets a ``-2``, ``-3``... suffix."""
    base = Path(root) / name
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    path.mkdir(parents=True)
    return path


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

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class RunLogger:
    """Writes every log step to TensorBoard and ``metrics.jsonl`` (values as plain floats)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.tb = TensorBoardWriter(self.run_dir)
        self.last: dict[str, float] = {}
        metrics = self.run_dir / METRICS_FILE
        if metrics.is_file():  # resuming: remember the latest value of every metric
            for line in metrics.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    self.last.update({k: v for k, v in json.loads(line).items() if isinstance(v, float | int)})
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
        self.tb.close()
        self._jsonl.close()


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step_{int(step):012d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (those with ``meta.json``), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "meta.json").is_file())


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


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())

