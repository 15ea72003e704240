"""Strict JSON for every file twingym writes: one value cleaner, one crash-safe JSON-lines writer.

- :func:`json_safe`: a copy of any value made of dicts, lists, numbers (python, numpy, JAX), strings
  and arrays that ``json.dumps(..., allow_nan=False)`` accepts: non-finite floats become the strings
  ``"nan"``, ``"inf"``, ``"-inf"``, arrays become (nested) lists, other objects their ``str``.
- :class:`JsonLinesWriter`: append-only JSON lines written, flushed and fsynced by a background
  thread (group commit), so a slow disk never stalls a real-time loop; a crash leaves at worst a
  torn last line, which :func:`read_jsonlines` skips.

This module imports only the standard library and numpy, so the JAX-free deploy runtime uses it too.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy/JAX values and non-finite floats turned into strict-JSON values."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        if np.isnan(f):
            return "nan"
        if np.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if hasattr(obj, "__array__"):
        return json_safe(np.asarray(obj).tolist())
    return str(obj)


def dumps_line(record: dict[str, Any]) -> str:
    """One compact strict-JSON line (with its newline) for ``record``."""
    return json.dumps(json_safe(record), separators=(",", ":"), allow_nan=False) + "\n"


class JsonLinesWriter:
    """Append-only JSON-lines writer: :meth:`write` queues a line; a writer thread appends, flushes
    and (with ``fsync``) fsyncs every batch (group commit). :meth:`close` drains the queue.

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
        self._thread = threading.Thread(target=self._writer, name="twingym-jsonlines", daemon=True)
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
        self._queue.put(dumps_line(record))

    def close(self) -> None:
        """Write everything queued, fsync, close."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonlines(path: str | Path) -> Iterator[dict[str, Any]]:
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
