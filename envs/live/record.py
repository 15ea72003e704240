"""Crash-safe step record of the live twin: append-only JSON lines, flushed and fsynced per step.

One line per step (a JSON object, see :meth:`LiveTwin.step` for the fields). A crash (even
``kill -9``) can at worst leave the last line incomplete; :func:`read_record` skips such a line, so
every complete line before it is intact. A restarted server appends to the same file (a new
``"event": "start"`` line marks the restart).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become the strings "nan", "inf", "-inf"."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class StepRecorder:
    """Append-only JSON-lines writer; every :meth:`write` is flushed and (by default) fsynced.

    Args:
        path: file to append to (parent folders are created).
        fsync: call ``os.fsync`` after every line (the crash-safety guarantee; turn off only for
            throughput experiments).
    """

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        # a previous crash may have left a partial last line: start ours on a fresh line
        if self._file.tell() > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    self._file.write("\n")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as one line, then flush and fsync."""
        self._file.write(json.dumps(_clean(record), separators=(",", ":"), allow_nan=False) + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> StepRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_record(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield every complete record of a JSON-lines file, skipping a torn (incomplete) line."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
