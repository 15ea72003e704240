"""Crash-safe step record of the live twin: append-only JSON lines, flushed and fsynced.

One line per step (a JSON object, see :meth:`LiveTwin.record_line` for the fields). Lines are only
ever appended; a crash (even ``kill -9``) can at worst leave the last line incomplete, and
:func:`read_record` skips such a line, so every complete line before it is intact. A restarted
server appends to the same file (a new ``"event": "start"`` line marks the restart).

Durability: a background writer thread appends, flushes and ``fsync``s (group commit: the lines
queued during one fsync go out with the next), so a slow disk never stalls the real-time loop. What
a power loss can lose is the few steps queued after the last fsync (milliseconds); a process crash
loses only what the OS had not yet been handed.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
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
    """Append-only JSON-lines writer: :meth:`write` queues a line; a writer thread appends, flushes
    and fsyncs (group commit). :meth:`close` drains the queue.

    Args:
        path: file to append to (parent folders are created).
        fsync: ``os.fsync`` after every batch of lines (the durability guarantee; turn off only for
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

        self._queue: queue.Queue[str | None] = queue.Queue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._writer, name="twingym-record", daemon=True)
        self._thread.start()

    def _writer(self) -> None:
        done = False
        while not done:
            lines = [self._queue.get()]
            while True:
                try:
                    lines.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = None in lines
            try:
                self._file.write("".join(line for line in lines if line is not None))
                self._file.flush()
                if self.fsync:
                    os.fsync(self._file.fileno())
            except OSError as exc:  # disk full, ...: surfaced by the next write()
                self.error = exc

    def write(self, record: dict[str, Any]) -> None:
        """Queue one record as one line (written, flushed and fsynced by the writer thread)."""
        if self.error is not None:
            raise OSError(f"record {self.path} cannot be written: {self.error}") from self.error
        self._queue.put(json.dumps(_clean(record), separators=(",", ":"), allow_nan=False) + "\n")

    def close(self) -> None:
        """Write everything queued, fsync, close."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
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
