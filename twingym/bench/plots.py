"""Plots and a Markdown table from ``twingym bench --json`` records.

``python -m twingym.bench.plots RESULTS.json OUT_DIR`` writes ``scaling_farm.png``,
``scaling_grid.png``, ``scaling_batch.png`` and ``results.md`` (every record as a table row) into
``OUT_DIR``; ``benchmarks/README.md`` embeds them.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _loglog(ax, xs, ys, label, marker="o") -> None:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ax.loglog([xs[i] for i in order], [ys[i] for i in order], marker=marker, label=label)


def plot_farm(records: list[dict], path: Path) -> bool:
    rows = [r for r in records if r["metric"].startswith("farm_power turbine-conditions/s vs farm size")]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    _loglog(ax, [r["turbines"] for r in rows], [r["ours"] for r in rows], "turbine-conditions/s")
    ax2 = ax.twinx()
    ax2.plot([r["turbines"] for r in rows], [r.get("memory_mib", 0) for r in rows], "s--", color="C1",
             label="compiled memory (MiB)")
    ax2.set_ylabel("XLA memory, MiB")
    ax.set_xlabel("turbines")
    ax.set_ylabel("turbine-conditions per second")
    ax.set_title("farm_power vs farm size (256 conditions per call)")
    fig.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_grid(records: list[dict], path: Path) -> bool:
    rows = [r for r in records if r["metric"].startswith("AC power flows/s vs grid size")]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    _loglog(ax, [r["buses"] for r in rows], [r["ours"] for r in rows], "twingym batched Newton (64/call)")
    _loglog(ax, [r["buses"] for r in rows], [r["peer"] for r in rows], "pandapower runpp", marker="s")
    ax.set_xlabel("buses")
    ax.set_ylabel("AC power flows per second")
    ax.set_title("AC power flow vs grid size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_batch(records: list[dict], path: Path) -> bool:
    rows = [r for r in records if r["metric"].endswith("steps/s vs batch")]
    if not rows:
        return False
    by_twin: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_twin[r["metric"].split(" ")[0]].append(r)
    fig, ax = plt.subplots(figsize=(6, 4))
    for twin, rs in sorted(by_twin.items()):
        _loglog(ax, [r["batch"] for r in rs], [r["ours"] for r in rs], twin)
    ax.set_xlabel("batch size (copies per jitted step)")
    ax.set_ylabel("env steps per second")
    ax.set_title("env throughput vs batch size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def markdown_table(records: list[dict]) -> str:
    lines = ["| section | metric | batch | ours | unit | peer | peer value | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    def fmt(v):
        return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    for r in records:
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.1f}x"
        lines.append(f"| {r.get('section', '')} | {r['metric']} | {fmt(r.get('batch'))} | {fmt(r['ours'])} | "
                     f"{r['unit']} | {r.get('peer_name') or ''} | {fmt(r.get('peer'))} | {ratio} |")
    return "\n".join(lines) + "\n"


def write_all(results: Path, out_dir: Path) -> list[Path]:
    records = json.loads(results.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in (("scaling_farm.png", plot_farm), ("scaling_grid.png", plot_grid),
                     ("scaling_batch.png", plot_batch)):
        if fn(records, out_dir / name):
            written.append(out_dir / name)
    (out_dir / "results.md").write_text(markdown_table(records))
    written.append(out_dir / "results.md")
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1]), Path(sys.argv[2])):
        print(p)
