"""Live twin benchmark: does a deployed policy earn, over OPC UA in wall-clock time, the return that
validation measured offline?

:func:`live_vs_validation` starts a live twin of the bundle's twin (nominal scenario, the bundle's
parameter overrides) at a high speed factor in a background thread, deploys the bundle on it with
the normal deploy runtime (onnxruntime, safety layer, watchdog), and computes the return of every
episode that ran entirely under the deployed policy from the live twin's own step record (truncated
to validation's horizon). It compares their mean with validation's nominal-scenario mean and 95%
confidence interval.

Agreement test: ``|live mean - validation mean| <= sqrt(ci_val^2 + ci_live^2)`` (two independent
samples, each with its 95% half-width); ``within_validation_ci`` also reports whether the live mean
lies inside validation's own interval.

``python -m twingym.bench.live BUNDLE [--episodes N] [--speed S]`` prints a table.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from twingym.bench.common import Record, print_records, record
from twingym.envs import make
from twingym.live import ServerConfig, free_port, read_record, start_server_thread
from twingym.policies.bundle import load_bundle, require_validated
from twingym.policies.deploy import DeployConfig, deploy

POLICY_KEY = "policy"


def episode_returns(record_path: str | Path, horizon: int, first_step: int) -> dict[str, Any]:
    """Returns of the episodes in a live record that ran entirely under client (policy) setpoints.

    Only episodes whose first step comes after ``first_step`` count; returns are summed over the
    first ``horizon`` steps (validation's horizon). Steps on a held setpoint (the deploy loop missed
    the step) still count as policy steps and are reported as ``held_steps``.
    """
    episodes: dict[int, list[dict]] = {}
    for r in read_record(record_path):
        if r.get("event") == "step":
            episodes.setdefault(r["episode"], []).append(r)
    returns, held = [], 0
    for steps in episodes.values():
        steps.sort(key=lambda r: r["episode_step"])
        complete = steps[-1]["terminated"] or steps[-1]["truncated"]
        if not complete or steps[0]["episode_step"] != 1 or steps[0]["step"] <= first_step:
            continue
        sources = {s for r in steps[:horizon] for s in r["source"]}
        if not sources <= {"client", "held"}:
            continue
        held += sum("held" in r["source"] for r in steps[:horizon])
        returns.append(float(sum(r["reward"] for r in steps[:horizon])))
    return {"returns": returns, "held_steps": held}


def live_vs_validation(bundle_path: str | Path, *, episodes: int = 12, speed: float | None = None,
                       period: float = 0.02, seed: int = 2024, max_rate: float | None = 0.5,
                       out_dir: str | Path | None = None) -> dict[str, Any]:
    """Serve the bundle's twin, deploy the bundle for ``episodes`` full episodes, compare returns.

    Args:
        speed: speed factor; default ``dt / period`` (one step every ``period`` wall seconds).
        max_rate: the deploy safety layer's rate limit (fraction of range per step; None: off).
        out_dir: where the live record and the deploy log go (default: a temporary folder).
    """
    bundle = load_bundle(bundle_path)
    validation = require_validated(bundle)
    nominal = validation.scenarios["nominal"]
    val = nominal["controllers"][POLICY_KEY]
    horizon = int(nominal["horizon"])
    twin_id = bundle.twin_id
    overrides = bundle.manifest.twin.param_overrides or {}
    folder = Path(out_dir or tempfile.mkdtemp(prefix="twingym-live-bench-"))
    _, params = make(twin_id, **overrides)
    dt = float(getattr(params, "dt", 1.0))
    twin_speed = float(speed if speed is not None else dt / period)
    config = ServerConfig(twin_id, overrides=overrides, seed=seed, port=free_port(), speed=twin_speed,
                          record=str(folder / "record.jsonl"), record_state=False)
    server = start_server_thread(config)
    try:
        max_steps = int(getattr(params, "max_steps", horizon))
        steps = (episodes + 1) * max_steps + 2
        t0 = time.perf_counter()
        summary = deploy(DeployConfig(str(bundle_path), server.endpoint, steps=steps, max_rate=max_rate,
                                      log=str(folder / "deploy.jsonl")), handle_signals=False)
        wall = time.perf_counter() - t0
    finally:
        server.stop()
    first = min((r["step"] for r in read_record(config.record) if r.get("event") == "step"
                 and r["source"] == ["client"]), default=0)
    live = episode_returns(config.record, horizon, first)
    r = np.asarray(live["returns"], dtype=np.float64)
    n = len(r)
    live_mean = float(r.mean()) if n else math.nan
    live_ci = float(1.96 * r.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    diff = abs(live_mean - val["mean_return"])
    combined = math.sqrt(val["ci95_return"] ** 2 + (live_ci if math.isfinite(live_ci) else 0.0) ** 2)
    return {
        "twin_id": twin_id, "dt": dt, "episodes": n, "horizon": horizon, "speed": twin_speed,
        "live_mean": live_mean, "live_ci95": live_ci, "live_returns": live["returns"],
        "validation_mean": float(val["mean_return"]), "validation_ci95": float(val["ci95_return"]),
        "validation_episodes": len(val.get("returns", [])), "difference": diff, "combined_ci95": combined,
        "agree": bool(n > 0 and diff <= combined),
        "within_validation_ci": bool(n > 0 and diff <= val["ci95_return"]),
        "held_steps": live["held_steps"], "missed_steps": summary.missed_steps,
        "fallbacks": summary.fallbacks, "deploy_steps": summary.steps, "wall_seconds": wall,
        "steps_per_second": (summary.steps + summary.missed_steps) / wall if wall > 0 else math.nan,
        "record": str(config.record), "log": summary.log_path,
    }


def to_records(result: dict[str, Any]) -> list[Record]:
    """Bench records: live return vs validation (ratio = combined CI / |difference|, >= 1 agrees)."""
    ratio_note = (result["combined_ci95"] / result["difference"]) if result["difference"] > 0 else math.inf
    live = record(f"{result['twin_id']} live episode return (nominal, x{result['speed']:.0f})", "return",
                  result["live_mean"], "validation nominal mean", result["validation_mean"],
                  live_ci95=result["live_ci95"], validation_ci95=result["validation_ci95"],
                  episodes=result["episodes"], agree=result["agree"],
                  within_validation_ci=result["within_validation_ci"], fallbacks=result["fallbacks"],
                  missed_steps=result["missed_steps"])
    live["ratio"] = ratio_note
    rate = record(f"{result['twin_id']} live twin steps/s with deploy attached", "steps/s",
                  result["steps_per_second"], "requested (speed / dt)", result["speed"] / result["dt"])
    return [live, rate]


def records(quick: bool = True, bundle: str | None = None) -> list[Record]:
    """Bench section: the step rate held under 50 readers and 2 writers
    (:mod:`twingym.bench.live_load`), the dashboard fan-out (:mod:`twingym.bench.dashboard`), then
    live return vs validation when a validated bundle is given (``bundle`` or
    ``$TWINGYM_LIVE_BENCH_BUNDLE``; skipped, and said, without one)."""
    import os

    from twingym.bench import live_load
    from twingym.bench.dashboard import dashboard_records

    out = live_load.records(quick=quick) + dashboard_records(quick=quick)
    path = bundle or os.environ.get("TWINGYM_LIVE_BENCH_BUNDLE")
    if not path:
        print("live bench: live return vs validation skipped (set TWINGYM_LIVE_BENCH_BUNDLE to a validated "
              "bundle)")
        return out
    return out + to_records(live_vs_validation(path, episodes=6 if quick else 20))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--speed", type=float, default=None)
    parser.add_argument("--max-rate", type=float, default=0.5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result = live_vs_validation(args.bundle, episodes=args.episodes, speed=args.speed,
                                max_rate=args.max_rate if args.max_rate > 0 else None, out_dir=args.out)
    print_records(to_records(result), "live twin vs validation")
    print({k: v for k, v in result.items() if k != "live_returns"})


if __name__ == "__main__":
    main()
