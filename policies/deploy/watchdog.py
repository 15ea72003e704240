"""The deploy watchdog: decide each step whether the policy or the twin's baseline controls the twin.

Problems it reacts to (each step reports at most one, the first that applies):

- ``connection_lost``: the OPC UA session dropped (the runtime reconnects with backoff);
- ``stale``: the twin's step counter stopped advancing (fed to the observation guard as bad readings,
  see :mod:`twingym.policies.sanitize`, which bridges ``max_hold`` steps and then asks for fallback);
- ``non_finite_observation``: the observation guard asks for fallback (bad readings for too long);
- ``inference_failed`` / ``inference_non_finite``: onnxruntime raised or returned NaN/inf.

Any problem switches to ``fallback`` at once; going back to ``policy`` needs ``recover_after``
consecutive healthy steps (hysteresis, so a flapping sensor does not flap the controller).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Transition:
    """A change of controller: ``to`` is ``policy`` or ``fallback``; ``reason`` why."""

    to: str
    reason: str


class Watchdog:
    """Two-state machine ``policy`` <-> ``fallback`` with recovery hysteresis.

    Args:
        recover_after: consecutive healthy steps needed to hand control back to the policy.
    """

    def __init__(self, recover_after: int = 3) -> None:
        if recover_after < 1:
            raise ValueError(f"recover_after must be >= 1, got {recover_after}")
        self.recover_after = int(recover_after)
        self.state = "policy"
        self.reason: str | None = None
        self.healthy_run = 0
        self.fallbacks = 0

    @property
    def in_fallback(self) -> bool:
        return self.state == "fallback"

    def update(self, problem: str | None) -> Transition | None:
        """Report this step's problem (``None`` when healthy); returns the transition, if any."""
        if problem is not None:
            self.healthy_run = 0
            if self.state != "fallback":
                self.state, self.reason = "fallback", problem
                self.fallbacks += 1
                return Transition("fallback", problem)
            return None
        self.healthy_run += 1
        if self.state == "fallback" and self.healthy_run >= self.recover_after:
            reason = f"healthy for {self.healthy_run} steps after {self.reason}"
            self.state, self.reason = "policy", None
            return Transition("policy", reason)
        return None
