"""The validation report: one self-contained HTML file (PNG plots embedded) a person reads offline.

Sections: verdict and gate table; per-scenario table of mean return (95% interval), cost rate and
episode length for the policy and every baseline; return distributions per scenario (box plots);
cost rate per scenario; example trajectories (episode 0 of nominal and of the dropout scenario:
reward, cost and actions of the policy versus the best baseline); the bundle's manifest summary.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
from twingym.policies.bundle import POLICY_FILE
from twingym.policies.manifest import Manifest, ValidationRecord

POLICY = "policy"
COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return html.escape(str(x))


def _returns_plot(record: ValidationRecord) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = record.scenarios
    names = list(scen)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        ctrl = scen[name]["controllers"]
        labels = list(ctrl)
        data = [ctrl[c]["returns"] for c in labels]
        box = ax.boxplot(data, patch_artist=True, showfliers=True)
        for patch, color in zip(box["boxes"], COLORS, strict=False):
            patch.set_facecolor(color)
            patch.set_alpha(0.45)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("episode return", fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def _cost_plot(record: ValidationRecord) -> str:
    import matplotlib.pyplot as plt

    scen = record.scenarios
    names = list(scen)
    controllers = list(next(iter(scen.values()))["controllers"])
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 3.2))
    width = 0.8 / len(controllers)
    x = np.arange(len(names))
    for i, c in enumerate(controllers):
        ax.bar(x + i * width - 0.4 + width / 2, [scen[n]["controllers"][c]["cost_rate"] for n in names], width,
               label=c, color=COLORS[i % len(COLORS)], alpha=0.8)
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("cost per step")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _trajectory_plot(scenario: str, runs: dict, best: str | None, action_labels: list) -> str:
    import matplotlib.pyplot as plt

    show = [POLICY] + ([best] if best else [])
    n_act = min(3, runs[POLICY].trajectory["action"].shape[-1])
    fig, axes = plt.subplots(2 + n_act, 1, figsize=(8, 1.7 * (2 + n_act)), sharex=True)
    for i, name in enumerate(show):
        tr = runs[name].trajectory
        color = COLORS[0] if name == POLICY else COLORS[1]
        axes[0].plot(tr["reward"], color=color, label=name, lw=1)
        axes[1].plot(tr["cost"], color=color, lw=1)
        for k in range(n_act):
            axes[2 + k].plot(tr["action"][:, k], color=color, lw=1, ls="-" if i == 0 else "--")
    fallback = runs[POLICY].trajectory.get("fallback")
    if fallback is not None and fallback.any():
        for ax in axes:  # steps where the policy's rows were handed to the fallback baseline
            ax.fill_between(np.arange(len(fallback)), 0, 1, where=fallback, color="orange", alpha=0.25,
                            transform=ax.get_xaxis_transform(), label=None)
        axes[0].plot([], [], color="orange", alpha=0.5, lw=6, label="policy in fallback")
    axes[0].set_ylabel("reward", fontsize=8)
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("cost", fontsize=8)
    for k in range(n_act):
        label = action_labels[k] if k < len(action_labels) else [f"action {k}", "", ""]
        axes[2 + k].set_ylabel(f"{label[0]}.{label[1]}\n[{label[2]}]" if len(label) == 3 else str(label), fontsize=7)
    axes[-1].set_xlabel("step")
    axes[0].set_title(f"{scenario}: episode 0", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def latency_text(lat: dict) -> str:
    """The latency evidence in one sentence, saying when the machine was too loaded to gate on it."""
    rounds = f"best of {lat['rounds']} rounds of {lat['n']} calls" if lat.get("rounds") else f"{lat['n']} calls"
    text = (f"latency (1 thread, single observation): p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms "
            f"({rounds}), slowest call {lat['max_ms']:.3f} ms")
    if lat.get("loaded"):
        text += (f"; measured on a loaded machine (load average {lat['load_avg']:.1f} above its "
                 f"{lat['cores']} cores), so reported without gating on it")
    return text


def render_report(record: ValidationRecord, runs: dict[str, dict], manifest: Manifest) -> str:
    """The HTML report of a validation ``record`` (``runs`` provide the example trajectories)."""
    verdict = "PASSED" if record.passed else "FAILED: " + ", ".join(record.failed_gates)
    color = "#1a7f37" if record.passed else "#cf222e"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>twingym validation: {html.escape(record.twin)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
        "th{background:#f3f3f3}.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>Validation of a {html.escape(manifest.backend or '?')} policy for "
        f"{html.escape(record.twin)}</h1>",
        f"<p style='font-size:20px;color:{color}'><b>{html.escape(verdict)}</b></p>",
        f"<p>run {_fmt(manifest.run_id)}; created {_fmt(record.created)}; twingym "
        f"{_fmt(record.twingym_version)}; {record.suite['episodes']} paired episodes per scenario "
        f"(common random numbers), horizon &le; {record.suite['max_horizon']} steps; fallback baseline: "
        f"{_fmt(record.fallback_baseline)}; {record.elapsed_s} s.</p>",
        "<h2>Gates</h2><table><tr><th>gate</th><th>verdict</th><th>figure</th><th></th><th>threshold</th>"
        "<th>unit</th><th>tightest check</th></tr>",
    ]
    for g in record.gates:
        cls = "pass" if g["passed"] else "fail"
        parts.append(f"<tr><td>{g['name']}</td><td class='{cls}'>{'pass' if g['passed'] else 'FAIL'}</td>"
                     f"<td>{_fmt(g['figure'])}</td><td>{_fmt(g['op'])}</td><td>{_fmt(g['threshold'])}</td>"
                     f"<td>{_fmt(g['unit'])}</td><td>{_fmt(g['detail'])}</td></tr>")
    parts.append("</table><details><summary>all checks</summary><table><tr><th>gate</th><th>check</th>"
                 "<th>figure</th><th></th><th>threshold</th><th>verdict</th></tr>")
    for g in record.gates:
        for c in g["checks"]:
            cls = "pass" if c["passed"] else "fail"
            parts.append(f"<tr><td>{g['name']}</td><td>{_fmt(c['what'])}</td><td>{_fmt(c['figure'])}</td>"
                         f"<td>{c['op']}</td><td>{_fmt(c['threshold'])}</td><td class='{cls}'>"
                         f"{'pass' if c['passed'] else 'FAIL'}</td></tr>")
    parts.append("</table></details>")

    parts.append("<h2>Scenarios</h2><table><tr><th>scenario</th><th>kind</th><th>controller</th>"
                 "<th>mean return &plusmn; 95%</th><th>cost per step</th><th>mean length</th><th>fallback</th></tr>")
    for name, s in record.scenarios.items():
        for c, st in s["controllers"].items():
            fb = f"{100 * st['fallback_frac']:.1f}%" if "fallback_frac" in st else ""
            style = " style='font-weight:bold'" if c == POLICY else ""
            parts.append(f"<tr{style}><td>{html.escape(name)}</td><td>{s['kind']}</td><td>{html.escape(c)}</td>"
                         f"<td>{st['mean_return']:.4g} &plusmn; {st['ci95_return']:.2g}</td>"
                         f"<td>{st['cost_rate']:.4g}</td><td>{st['mean_length']:.1f}</td><td>{fb}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Return distributions</h2>" + _returns_plot(record))
    parts.append("<h2>Cost</h2>" + _cost_plot(record))
    parts.append("<h2>Example trajectories</h2>")
    labels = manifest.action_labels or []
    for name, s in record.scenarios.items():
        if s["kind"] not in ("nominal", "dropout") or name not in runs:
            continue
        base = {c: st["mean_return"] for c, st in s["controllers"].items() if c != POLICY}
        best = max(base, key=base.get) if base else None
        parts.append(_trajectory_plot(name, runs[name], best, labels))
    parts.append("<h2>Other evidence</h2><ul>")
    for e in record.equivalence:
        parts.append(f"<li>equivalence vs {_fmt(e['reference'])}: {e['metric']} = {e['value']:.3g} "
                     f"over {e['n']} observations</li>")
    fz, lat = record.fuzz, record.latency
    parts.append(f"<li>fuzz: {fz['ok']}/{fz['n']} finite, in-bounds actions "
                 f"({fz['sanitized_failures']} failures through sanitize, {fz['raw_finite_failures']} on the "
                 "bare graph with finite extremes)</li>")
    parts.append(f"<li>{latency_text(lat)}</li></ul>")
    parts.append("<h2>Bundle</h2><table>")
    rows = [("twin", manifest.twin.id), ("params hash", manifest.twin.params_hash),
            ("param overrides", manifest.twin.param_overrides), ("backend", manifest.backend),
            ("run id", manifest.run_id), ("policy", manifest.policy),
            ("policy.onnx sha256", manifest.files.get(POLICY_FILE))]
    for k, v in rows:
        parts.append(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)
