"""The live twin: any registered twin in wall-clock time behind an OPC UA server (asyncua).

- :class:`LiveTwin` steps one copy of a twin (jitted ``env.step``) and applies setpoints.
- :class:`LiveTwinServer` / :func:`serve` publish it over OPC UA; :class:`ServerConfig` holds the options.
- :func:`start_server_thread` and :func:`spawn_server` run one in the background and return its endpoint.
- :func:`read_record` reads the crash-safe step record.

See docs/live-twin.md for the address space, the security rules and the record format.
"""

from twingym.live.background import (
    ServerProcess,
    ServerThread,
    free_port,
    spawn_server,
    start_server_thread,
)
from twingym.live.record import StepRecorder, read_record
from twingym.live.security import SecurityConfig, SecurityError, is_loopback
from twingym.live.server import LiveTwinServer, ServerConfig, ServeSummary, serve
from twingym.live.twin_runtime import Fault, LiveTwin, StepOutcome

__all__ = [
    "Fault",
    "LiveTwin",
    "LiveTwinServer",
    "SecurityConfig",
    "SecurityError",
    "ServeSummary",
    "ServerConfig",
    "ServerProcess",
    "ServerThread",
    "StepOutcome",
    "StepRecorder",
    "free_port",
    "is_loopback",
    "read_record",
    "serve",
    "spawn_server",
    "start_server_thread",
]
