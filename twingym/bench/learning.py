"""Wall-clock time until the default pure-JAX PPO beats the twin's best simple baseline.

Trains the default config (``configs/wind_farm/ppo_jax.yaml`` unless told otherwise) with an
evaluation against the reference baseline every ``eval_every`` env steps, each on the same
``episodes`` scenario seeds as the baseline (common random numbers), and reports the wall time
(since training started, evaluations included) of the first evaluation whose paired 95 % interval
of the return difference lies above zero (the policy beats the baseline with 95 % confidence). If
no evaluation gets there, the record says so (``ours`` is NaN) and carries the last difference.

Run ``python -m twingym.bench.learning [--quick] [--config wind_farm/ppo_jax]``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from twingym.bench.common import Record, machine_info, print_records, record

DEFAULT_CONFIG = "wind_farm/ppo_jax"


def first_win(metrics_path: Path) -> tuple[float, int, dict] | None:
    """``(wall s, env steps, eval row)`` of the first evaluation with its 95 % interval above 0."""
    last = None
    for line in metrics_path.read_text().splitlines():
        row = json.loads(line)
        if row.get("eval/difference_ci_low") is None:
            continue
        last = row
        if row["eval/difference_ci_low"] > 0:
            return float(row["time"]), int(row["step"]), row
    return (math.nan, -1, last) if last is not None else None


def time_to_beat_records(config: str = DEFAULT_CONFIG, total_steps: int = 6_000_000,
                         eval_every: int = 1_000_000, episodes: int = 64) -> list[Record]:
    """Train ``config`` once (progress bar off) and report time and steps until it beats the baseline."""
    from twingym.training.driver import train_from_file

    with tempfile.TemporaryDirectory(prefix="twingym-bench-learning-") as tmp:
        run_dir, summary = train_from_file(config, [
            f"total_steps={total_steps}", f"eval.every_steps={eval_every}",
            f"eval.during_episodes={episodes}", f"eval.episodes={episodes}",
            f"checkpoint.every_steps={total_steps}", f"run.root={tmp}", "run.name=learning",
            "run.progress=false"])
        found = first_win(Path(run_dir) / "metrics.jsonl")
    twin = (summary or {}).get("twin", config)
    final = (summary or {}).get("final_eval", {})
    reference = final.get("reference") or "reference baseline"
    records: list[Record] = []
    if found is not None:
        wall, steps, row = found
        records.append(record(f"{twin} JAX PPO wall time until it beats {reference} (95% CI > 0, "
                              f"{episodes} episodes)", "s", wall))
        records.append(record(f"{twin} JAX PPO env steps until it beats {reference}", "steps",
                              float(steps) if steps > 0 else math.nan))
        records.append(record(f"{twin} JAX PPO return difference vs {reference} at that evaluation",
                              "return", float(row["eval/difference"])))
    diff = final.get("difference") or {}
    if diff:
        records.append(record(f"{twin} JAX PPO final return difference vs {reference} after "
                              f"{total_steps:,} steps (95% CI [{diff['ci_low']:.3g}, {diff['ci_high']:.3g}])",
                              "return", float(diff["mean"])))
    return records


def records(quick: bool = False) -> list[Record]:
    """Bench section; skipped with ``quick`` (it trains for several minutes)."""
    if quick:
        print("learning: skipped in --quick (trains the default policy for minutes; "
              "run `python -m twingym.bench.learning`)")
        return []
    return time_to_beat_records()


def main(argv: list[str] | None = None) -> list[Record]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--total-steps", type=int, default=6_000_000)
    parser.add_argument("--eval-every", type=int, default=1_000_000)
    parser.add_argument("--episodes", type=int, default=64)
    args = parser.parse_args(argv)
    out = time_to_beat_records(args.config, args.total_steps, args.eval_every, args.episodes)
    print_records(out, f"time to beat the baseline ({machine_info()['jax_backend']})")
    return out


if __name__ == "__main__":
    main()
