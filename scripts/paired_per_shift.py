"""Paired margins of a validated policy per 8-h shift: ``python scripts/paired_per_shift.py BUNDLE``.

Reads the bundle's ``validation.json`` (``twingym validate`` records every KPI per controller and
episode, on common random numbers) and prints, per scenario and baseline, the mean paired
difference policy - baseline with its 95 % Student-t interval, for the return and for every KPI.
KPIs that are sums over the episode (EUR, station-h, kWh) are scaled to an 8-h shift by the
scenario's horizon; ``*_per_shift`` KPIs already are. ``--markdown`` prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from twingym.policies.bundle import load_bundle
from twingym.policies.paired import POLICY, baselines_of, paired_interval

SHIFT_HOURS = 8.0


def margins(record) -> list[dict]:
    """One row per (scenario, baseline): ``{"scenario", "baseline", "n", key: (mean, low, high)}``."""
    rows = []
    for name, scen in record.scenarios.items():
        ctrl = scen["controllers"]
        shift = SHIFT_HOURS * 3600.0 / (float(scen["horizon"]) * record.step_seconds)
        for base in baselines_of(scen):
            row = {"scenario": name, "baseline": base, "n": len(ctrl[POLICY]["returns"]),
                   "return": paired_interval(np.asarray(ctrl[POLICY]["returns"]) - np.asarray(ctrl[base]["returns"]))}
            for kpi in record.kpis:
                key = kpi["key"]
                scale = 1.0 if key.endswith("_per_shift") else shift
                diff = np.asarray(ctrl[POLICY]["kpis"][key]["values"]) - np.asarray(ctrl[base]["kpis"][key]["values"])
                row[key] = paired_interval(diff * scale)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--kpis", default="", help="comma-separated KPI keys to show (default: all)")
    args = parser.parse_args(argv)
    record = load_bundle(args.bundle).validation()
    if record is None:
        print(f"error: {args.bundle} has no validation.json; run twingym validate first", file=sys.stderr)
        return 2
    keys = [k["key"] for k in record.kpis if not args.kpis or k["key"] in args.kpis.split(",")]
    cols = ["return", *keys]
    sep = " | " if args.markdown else "  "
    print(sep.join(["scenario", "baseline", "n", *cols]).join(("| ", " |")) if args.markdown
          else sep.join(["scenario", "baseline", "n", *cols]))
    if args.markdown:
        print("|" + "---|" * (3 + len(cols)))
    for row in margins(record):
        cells = [row["scenario"], row["baseline"], str(row["n"])]
        cells += [f"{row[c][0]:+.2f} [{row[c][1]:+.2f}, {row[c][2]:+.2f}]" for c in cols]
        print(sep.join(cells).join(("| ", " |")) if args.markdown else sep.join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
