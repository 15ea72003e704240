"""The live twin: any registered twin in wall-clock time behind an OPC UA server (asyncua).

- :class:`LiveTwin` steps one copy of a twin (jitted ``env.step``) and applies setpoints.
- :class:`LiveTwinServer` / :func:`serve` publish it over OPC UA; :class:`ServerConfig` holds the options.
- :func:`start_server_thread` and :func:`spawn_server` run one in the background and return its endpoint.
- :func:`read_record` reads the crash-safe step record.
- :mod:`twingym.live.contract`: the protocol (node ids, labels, snapshot rule, space description)
  shared with the deploy client; it imports no JAX.

The names above are loaded on first use, so ``import twingym.live.contract`` (the deploy runtime)
does not import the JAX-backed server. See docs/live-twin.md for the address space, the security
rules and the record format.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_EXPORTS = {
    "ServerProcess": "background", "ServerThread": "background", "free_port": "background",
    "spawn_server": "background", "start_server_thread": "background",
    "StepRecorder": "record", "read_record": "record",
    "SecurityConfig": "security", "SecurityError": "security", "is_loopback": "security",
    "LiveTwinServer": "server", "ServerConfig": "server", "ServeSummary": "server", "serve": "server",
    "Fault": "twin_runtime", "LiveTwin": "twin_runtime", "StepOutcome": "twin_runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
