"""twingym.dashboard: a live web page of any twingym live twin, read over OPC UA as any client would.

- :class:`DashboardConfig` / :func:`serve_dashboard` / :func:`start_dashboard_thread`: run one.
- :class:`FeedConfig`: the twin's endpoint, OPC UA client security, update rate, deploy log.
- :class:`DashboardSecurity`: loopback by default; non-loopback needs credentials and TLS; read-only
  unless operator mode (local/remote switch only) is enabled and authenticated.

The page (``static/``) draws the twin from the published measurements and the twin's schematic
(SVG), with strip charts (uPlot, vendored). No JAX is imported here. See docs/dashboard.md.
"""

from twingym.dashboard.feed import FeedConfig, TwinFeed
from twingym.dashboard.runner import (
    DEFAULT_PORT,
    Dashboard,
    DashboardConfig,
    DashboardThread,
    serve_dashboard,
    start_dashboard_thread,
)
from twingym.dashboard.security import (
    PASSWORD_ENV,
    DashboardSecurity,
    DashboardSecurityError,
)

__all__ = [
    "DEFAULT_PORT",
    "PASSWORD_ENV",
    "Dashboard",
    "DashboardConfig",
    "DashboardSecurity",
    "DashboardSecurityError",
    "DashboardThread",
    "FeedConfig",
    "TwinFeed",
    "serve_dashboard",
    "start_dashboard_thread",
]
