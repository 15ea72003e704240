"""``python cli_main.py ARGS``: the ``twingym`` command with the test-only twins registered."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "envs"))

if __name__ == "__main__":
    import twingym.envs as twin_envs

    from twingym.cli import main

    twin_envs.register("ToyTank-v0", "toy_twin:ToyTank", description="test-only twin", max_episode_steps=100)
    main(sys.argv[1:])
