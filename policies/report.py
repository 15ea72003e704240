"""The validation report: one self-contained HTML file (PNG plots embedded) a person reads offline.

Sections, in the order a control engineer asks: verdict and gate table; per scenario, the paired
return difference policy minus each baseline with its 95 % interval and verdict (beats / loses /
tie; a forest plot and a table; oracle baselines, upper references that are never gated, marked);
KPIs in physical units per scenario with paired differences (twingym.policies.kpis: MWh, % of
wake loss recovered, yaw travel, $, overload MVAh, parts per shift, downtime, DELs); one
representative episode per scenario (the median paired difference), policy and best baseline side
by side in physical units; then the per-controller table, cost rate per scenario, other evidence
(equivalence, fuzz, latency) and the bundle's manifest summary.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
from twingym.policies.bundle import POLICY_FILE
from twingym.policies.manifest import Manifest, ValidationRecord
from twingym.policies.paired import (
    Difference,
    baselines_of,
    best_baseline,
    kpi_difference,
    representative_episode,
    return_differences,
    wake_loss_recovered,
)

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


def _forest_plot(diffs: list[Difference]) -> str:
    """Paired return difference policy - baseline per scenario and baseline, 95 % intervals."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    baselines = list(dict.fromkeys(d.baseline for d in diffs))
    scenarios = list(dict.fromkeys(d.scenario for d in diffs))
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(diffs) + 1.3))
    rows = []
    for si, scen in enumerate(scenarios):
        for bi, base in enumerate(baselines):
            d = next((x for x in diffs if x.scenario == scen and x.baseline == base), None)
            if d is None:
                continue
            y = -(si * (len(baselines) + 1) + bi)
            rows.append((y, f"{scen}  vs {base}" + (" (oracle)" if d.oracle else "")))
            color = COLORS[(bi + 1) % len(COLORS)]
            err = [[d.mean - d.low], [d.high - d.mean]] if np.isfinite(d.low) else None
            ax.errorbar(d.mean, y, xerr=err, fmt="o", color=color, capsize=3, ms=5,
                        label=base if si == 0 else None)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks([r[0] for r in rows], [r[1] for r in rows], fontsize=8)
    ax.set_xlabel("episode return, policy minus baseline (paired; > 0: the policy is better)", fontsize=8)
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _interval(d: Difference | None, unit: str) -> str:
    if d is None or not np.isfinite(d.mean):
        return "-"
    text = f"{d.mean:+.4g} [{d.low:+.3g}, {d.high:+.3g}] {html.escape(unit)}" if np.isfinite(d.low) \
        else f"{d.mean:+.4g} {html.escape(unit)}"
    return f"<b>{text}</b>" if d.significant else text


def _label(baseline: str, record: ValidationRecord) -> str:
    return f"{baseline} (oracle)" if baseline in record.oracle_baselines else baseline


def _kpi_section(record: ValidationRecord) -> str:
    """Per scenario: every KPI of the policy and the baselines with the paired differences."""
    kpis = record.kpis
    if not kpis:
        return "<p>This twin has no KPIs in physical units registered (twingym.policies.kpis).</p>"
    parts = ["<p>Means over the paired episodes; differences are policy minus baseline with their 95 % "
             "interval (bold: the interval excludes 0). Arrows: which direction is better.</p>"]
    for name, scen in record.scenarios.items():
        bases = baselines_of(scen)
        ctrl = scen["controllers"]
        parts.append(f"<h3>{html.escape(name)}</h3><table><tr><th>KPI</th><th>policy</th>"
                     + "".join(f"<th>{html.escape(_label(b, record))}</th><th>policy &minus; {html.escape(b)}</th>"
                               for b in bases)
                     + "</tr>")
        for k in kpis:
            if k["key"] not in ctrl[POLICY].get("kpis", {}):
                continue
            arrow = "&uarr;" if k["higher_is_better"] else "&darr;"
            unit = k["unit"]
            row = [f"<td style='text-align:left'>{html.escape(k['name'])} [{html.escape(unit)}] {arrow}</td>",
                   f"<td>{ctrl[POLICY]['kpis'][k['key']]['mean']:.4g}</td>"]
            for b in bases:
                mean = ctrl[b].get("kpis", {}).get(k["key"], {}).get("mean")
                row.append(f"<td>{_fmt(mean)}</td><td>{_interval(kpi_difference(scen, k['key'], b), unit)}</td>")
            parts.append("<tr>" + "".join(row) + "</tr>")
        if any(k["key"] == "freestream_energy_mwh" for k in kpis):
            row = ["<td style='text-align:left'>wake loss recovered [% of the baseline's] &uarr;</td><td></td>"]
            for b in bases:
                row.append(f"<td></td><td>{_interval(wake_loss_recovered(scen, b), '%')}</td>")
            parts.append("<tr>" + "".join(row) + "</tr>")
        parts.append("</table>")
    return "\n".join(parts)


def _episode_plot(scenario: str, scen: dict, runs: dict, baseline: str, kpis: list[dict],
                  action_labels: list, step_seconds: float) -> str:
    """The representative episode of one scenario: policy and baseline side by side, physical units."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    j = representative_episode(scen, baseline)
    shown = [k for k in kpis if k["key"] in runs[POLICY].series][:4]
    n_act = min(2, runs[POLICY].series["action"].shape[-1])
    n_rows = len(shown) + n_act
    fig, axes = plt.subplots(n_rows, 2, figsize=(10, 1.7 * n_rows + 0.6), sharex=True, sharey="row",
                             squeeze=False)
    duration = step_seconds * len(runs[POLICY].series["reward"])
    scale, xunit = ((step_seconds / 3600.0, "h") if duration > 7200 else
                    (step_seconds / 60.0, "min") if duration > 120 else (step_seconds, "s"))
    for col, name in enumerate((POLICY, baseline)):
        run = runs[name]
        n = int(run.lengths[j])
        t = np.arange(n) * scale
        color = COLORS[0] if name == POLICY else COLORS[1]
        for row, k in enumerate(shown):
            axes[row, col].plot(t, run.series[k["key"]][:n, j], color=color, lw=1.1)
            if col == 0:
                label = k.get("series_name") or k["name"]
                axes[row, col].set_ylabel(f"{label}\n[{k.get('per_step_unit', '')}]", fontsize=7)
        for a in range(n_act):
            ax = axes[len(shown) + a, col]
            ax.step(t, run.series["action"][:n, j, a], where="post", color=color, lw=1.1)
            if col == 0:
                lb = action_labels[a] if a < len(action_labels) else ["action", str(a), ""]
                ax.set_ylabel(f"{lb[0]}\n{lb[1]} [{lb[2]}]" if len(lb) == 3 else str(lb), fontsize=7)
        ret = float(run.returns[j])
        axes[0, col].set_title(f"{name}: episode {j}, return {ret:.3g}", fontsize=9)
        axes[-1, col].set_xlabel(f"time [{xunit}]", fontsize=8)
    fig.suptitle(f"{scenario}: representative episode (median paired difference vs {baseline})", fontsize=10)
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
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;"
        "white-space:nowrap}"
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
    parts.append("<h2>Policy minus each baseline, per scenario (paired episodes)</h2>"
                 "<p>Every controller ran the same episodes (common random numbers); each point is the mean "
                 "of the per-episode return difference, the bar its 95 % interval (Student t).</p>")
    diffs = return_differences(record)
    if diffs:
        parts.append(_forest_plot(diffs))
        parts.append("<table><tr><th>scenario</th><th>baseline</th><th>policy &minus; baseline "
                     "[95 %]</th><th>episodes</th><th>verdict</th></tr>")
        for d in diffs:
            mark = " (oracle: upper reference, not gated)" if d.oracle else ""
            parts.append(f"<tr><td>{html.escape(d.scenario)}</td><td>{html.escape(d.baseline + mark)}</td>"
                         f"<td>{_interval(d, 'return')}</td><td>{d.n}</td><td>{d.verdict}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>This twin has no baselines to compare with.</p>")
    parts.append("<h2>KPIs in physical units</h2>" + _kpi_section(record))
    parts.append("<h2>A representative episode per scenario</h2>")
    labels = manifest.action_labels or []
    for name, s in record.scenarios.items():
        base = best_baseline(s, record.oracle_baselines)
        if base is None or name not in runs or "action" not in runs[name][POLICY].series:
            continue
        parts.append(_episode_plot(name, s, runs[name], base, record.kpis, labels,
                                   float(record.step_seconds)))

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
    parts.append("<h2>Cost</h2>" + _cost_plot(record))
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
