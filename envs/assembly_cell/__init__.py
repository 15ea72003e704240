"""AssemblyCell-v0: a serial assembly cell twin (finite buffers, failures, wear, maintenance, energy).

``bernoulli_line(p, buffers) -> (env, params)`` reduces it to Li & Meerkov's Bernoulli line; the
analytic throughput formulas live in :mod:`twingym.envs.assembly_cell.bernoulli`.
"""

from twingym.envs.assembly_cell.bernoulli import (
    aggregation,
    bernoulli_line,
    markov_throughput,
    nominal_action,
    two_machine_throughput,
)
from twingym.envs.assembly_cell.env import AssemblyCell
from twingym.envs.assembly_cell.types import AssemblyCellParams, AssemblyCellState

__all__ = [
    "AssemblyCell",
    "AssemblyCellParams",
    "AssemblyCellState",
    "aggregation",
    "bernoulli_line",
    "markov_throughput",
    "nominal_action",
    "two_machine_throughput",
]
