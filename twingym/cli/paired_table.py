"""The paired table as the terminal shows it: one row per scenario and baseline, ``subject - baseline``
return (mean, 95 % interval, n) and the verdict (beats / loses / tie). Oracle baselines (upper
references that see what a real controller cannot) are marked ``(oracle)``: their row is the gap
to perfect foresight, never a verdict that gates. Used by ``twingym evaluate`` and the pipeline
summary."""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich.markup import escape
from rich.table import Table

from twingym.stats import BEATS, LOSES, Difference

STYLE = {BEATS: "green", LOSES: "red"}


def _num(x: float) -> str:
    return f"{x:+.4g}" if math.isfinite(x) else "n/a"


def paired_table(diffs: Iterable[Difference], title: str, subject: str = "policy") -> Table:
    """A rich table of ``diffs`` (the rows of :func:`twingym.stats.paired_differences`)."""
    table = Table(title=title, caption="paired episodes (common random numbers), 95 % Student-t interval; "
                  "oracle: an upper reference, never gated")
    for col, justify in (("scenario", "left"), ("baseline", "left"), (f"{subject} - baseline", "right"),
                         ("95 % interval", "right"), ("n", "right"), ("verdict", "left")):
        table.add_column(col, justify=justify, no_wrap=col != "scenario")
    for d in diffs:
        interval = f"[{_num(d.low)}, {_num(d.high)}]" if math.isfinite(d.low) else "n/a"
        verdict = d.verdict + (" (gap to oracle)" if d.oracle else "")
        style = "" if d.oracle else STYLE.get(d.verdict, "yellow")
        table.add_row(escape(d.scenario), escape(d.baseline + (" (oracle)" if d.oracle else "")), _num(d.mean),
                      escape(interval), str(d.n), f"[{style}]{verdict}[/]" if style else verdict)
    return table
