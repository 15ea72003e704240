"""Subprocess body of the multi-device / multi-process tests: train a config, interrupted after one
chunk and resumed in the same processes, optionally as one of several ``jax.distributed`` processes.

    python distributed_run.py CONFIG [--coordinator HOST:PORT --num-processes N --process-id I]

Prints ``run_dir=PATH`` (process 0) and ``devices=D processes=P``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "envs"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--coordinator")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args()

    from twingym.training import distributed

    distributed.initialize(distributed.from_flags(args.coordinator, args.num_processes, args.process_id))
    import jax
    import twingym.envs as twin_envs
    from twingym.training import driver
    from twingym.training.config import load_config

    twin_envs.register("ToyTank-v0", "toy_twin:ToyTank", description="test-only twin")
    run_dir, summary = driver.train(load_config(args.config), stop_after_chunks=1)
    assert summary is None, "the run should stop after one chunk"
    run_dir, summary = driver.resume(run_dir)
    print(f"devices={jax.device_count()} processes={jax.process_count()}")
    if distributed.is_main():
        print(f"run_dir={run_dir}")


if __name__ == "__main__":
    main()
