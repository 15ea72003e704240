"""The training progress bar (rich): env steps, steps/s, latest episode return, ETA."""

from __future__ import annotations

import math
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainProgress:
    """``with TrainProgress(total, enabled) as p: p.update(steps, episode_return)``.

    ``steps`` are env steps done so far (per seed); the bar also shows steps/s since it started (or
    since resuming) and the latest mean episode return. Disabled, it prints nothing.
    """

    def __init__(self, total: int, enabled: bool = True, start: int = 0, description: str = "training") -> None:
        self.total, self.start, self.enabled = int(total), int(start), enabled
        self.t0 = time.time()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("steps | {task.fields[rate]} steps/s | return {task.fields[ret]}"),
            TimeRemainingColumn(), console=Console(file=sys.stderr), transient=False,
            disable=not enabled)
        self._task = self._progress.add_task(description, total=self.total, completed=self.start,
                                             rate="-", ret="-")

    def __enter__(self) -> TrainProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def update(self, steps: int, episode_return: float | None = None, rate: float | None = None) -> None:
        elapsed = max(time.time() - self.t0, 1e-9)
        rate = (steps - self.start) / elapsed if rate is None else rate
        fields = {"rate": f"{rate:,.0f}"}
        if episode_return is not None and math.isfinite(episode_return):
            fields["ret"] = f"{episode_return:.3f}"
        self._progress.update(self._task, completed=min(steps, self.total), **fields)
