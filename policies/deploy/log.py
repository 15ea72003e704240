"""The deploy decision log: one JSON object per line, flushed per line, fsynced on close.

Events: ``start``, ``connected``, ``connect_failed``, ``connection_lost``, ``fallback``, ``recovered``,
``step`` (one per twin step observed: observation, policy action, safe action, what the twin applied,
controller, problem), ``signal``, ``handover``, ``stop`` (with the summary). Non-finite floats are
written as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict JSON).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    return value


class DecisionLog:
    """Append-only JSON-lines log; ``write(event, **fields)`` adds ``wall_time`` and ``event``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "wall_time": time.time(), **fields}
        self._file.write(json.dumps(_clean(record), separators=(",", ":"), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def read_log(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete line of a decision log (a torn last line is skipped)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
