"""PowerGrid-v0: a transmission-grid twin with AC power flow in JAX, importing pandapower nets.

Public API: :func:`from_pandapower` (net -> fixed-shape arrays), :func:`runpp` / :func:`rundcpp`
(our AC / DC power flow on a pandapower net, pandapower-compatible results).
"""

from twingym.envs.power_grid.api import rundcpp, runpp
from twingym.envs.power_grid.network import Network, UnsupportedElementError, from_pandapower

__all__ = ["Network", "UnsupportedElementError", "from_pandapower", "rundcpp", "runpp"]
