"""One XLA CPU device per core, chosen before JAX starts.

XLA's CPU backend runs each fused kernel of a program on one thread, and a host normally shows
one CPU device, so a batched twin or a PPO run uses one core however many the machine has. Split
into ``N`` host devices (``--xla_force_host_platform_device_count=N``), the batch is sharded over
them (``twingym.agents.sharding``) and every core works. The flag only takes effect if it is in
``XLA_FLAGS`` before JAX creates its CPU backend, so the CLI sets it first thing.

Library users do the same at the top of their script, before anything calls into JAX::

    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=%d" % os.cpu_count()

``TWINGYM_HOST_DEVICES=N`` picks another count (``1`` keeps one device); a count already in
``XLA_FLAGS`` is left alone. GPU and TPU backends are unaffected (they have their own devices).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

FLAG = "--xla_force_host_platform_device_count"


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_every_core(environ: MutableMapping[str, str] = os.environ) -> int | None:
    """Put ``FLAG=<cores>`` into ``environ["XLA_FLAGS"]`` unless a count is already chosen.

    Returns the count set, or ``None`` when ``XLA_FLAGS`` already had one.
    """
    flags = environ.get("XLA_FLAGS", "")
    if FLAG in flags:
        return None
    count = int(environ.get("TWINGYM_HOST_DEVICES", usable_cores()))
    if count < 1:
        raise ValueError(f"TWINGYM_HOST_DEVICES must be at least 1, got {count}")
    environ["XLA_FLAGS"] = f"{flags} {FLAG}={count}".strip()
    return count
