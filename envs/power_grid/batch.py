"""Many AC power flows of one network in one call: :class:`BatchFlow` (float64).

Every operating point (its own bus injections) of one topology is solved from the network's base
solution ``x_ref`` by :func:`~twingym.envs.power_grid.powerflow.solve_ac`:

1. ``fixed_chord`` chord iterations for every copy, all copies in step, with the Jacobian at
   ``x_ref`` factorised once and shared by the whole batch;
2. more chord iterations (up to ``max_chord`` in all) and then up to ``max_iteration`` Newton
   iterations, only for the copies not yet converged, gathered into small buffers (a copy that
   has converged stops paying).

Two linear algebra back ends:

* ``dense`` (networks up to :data:`DENSE_MAX_BUS` buses): the shared factorisation is the dense
  inverse Jacobian, so a chord iteration of the whole batch is one matrix product; Newton uses
  dense LU.
* ``sparse`` (larger networks): SuperLU factorisations (:mod:`~twingym.envs.power_grid.sparse`)
  called from the jitted solver; the chord solve of the whole batch is one multi-right-hand-side
  triangular solve.

Mismatches use cancellation-free branch sums (``ybus.accurate_injection``, linear in the branch
count) in both. Convergence is pandapower's: the largest entry of the per-unit mismatch vector
below ``tol`` (pandapower's ``tolerance_mva``, 1e-8 by default).

Float64 throughout: at 1e-8 pu a float32 mismatch is below round-off already on case118 (its
float32 floor is about 2e-5 pu, see ``params.py``), and the large cases' admittances span six
decades.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.power_grid import powerflow, sparse, ybus
from twingym.envs.power_grid.api import build_problem, problem_arrays
from twingym.envs.power_grid.network import Network

#: above this many buses the sparse back end is used (a dense inverse Jacobian of 2n x 2n
#: float64 stops being cheaper than sparse triangular solves around here)
DENSE_MAX_BUS = 200


def _base_solution(jac: sparse.SparseJacobian, s_spec: np.ndarray, x0: np.ndarray,
                   tol: float, max_iter: int = 30) -> np.ndarray:
    """Host-side sparse Newton solve of the base operating point (float64); returns ``x``."""
    n = jac.n
    x = x0.copy()
    for _ in range(max_iter):
        v = x[n:] * np.exp(1j * x[:n])
        mis = v * np.conj(jac.ybus @ v) - s_spec
        f = np.concatenate([mis.real, mis.imag])
        if np.max(np.abs(f[jac.red])) < tol:
            return x
        x = x - jac.solve_full(jac.factor(x), f[None])[0]
    raise ValueError("the base-case AC power flow does not converge")


class BatchFlow:
    """Batched AC power flow of ``network`` (see the module docstring).

    ``linear``: "dense", "sparse" or "auto" (dense up to :data:`DENSE_MAX_BUS` buses). ``tol``:
    pu mismatch (pandapower's ``tolerance_mva``); ``max_iteration``: Newton iterations after the
    chord phase (pandapower's default for Newton-Raphson is 10); ``buffer``: copies gathered per
    buffer for the adaptive phases.
    """

    def __init__(self, network: Network, *, linear: str = "auto", tol: float = 1e-8,
                 max_iteration: int = 10, fixed_chord: int = 3, max_chord: int = 12,
                 buffer: int | None = None):
        if linear not in ("auto", "dense", "sparse"):
            raise ValueError(f"linear must be 'auto', 'dense' or 'sparse', not {linear!r}")
        self.network = network
        self.linear = ("dense" if network.n_bus <= DENSE_MAX_BUS else "sparse") \
            if linear == "auto" else linear
        self.tol, self.max_iteration = float(tol), int(max_iteration)
        self.fixed_chord, self.max_chord, self.buffer = int(fixed_chord), int(max_chord), buffer
        with jax.enable_x64(True):
            a = problem_arrays(network, jnp.float64)
            self.arrays = a
            br = ybus.branch_admittance(a["r"], a["x"], a["g"], a["b"], a["g_asym"], a["b_asym"],
                                        a["tap"], a["shift"], a["status"])
            shunt = np.asarray(a["shunt_g"]) + 1j * np.asarray(a["shunt_b"])
            y = sparse.sparse_ybus(network.n_bus, network.br_from, network.br_to,
                                   *(np.asarray(v) for v in br), shunt)
            self.jac = sparse.SparseJacobian(y, np.asarray(a["is_slack"]), np.asarray(a["is_pv"]))
            x0 = np.concatenate([np.full(network.n_bus, float(a["va_slack"])),
                                 np.asarray(a["vm_set"])])
            s_spec = np.asarray(a["p_spec"]) + 1j * np.asarray(a["q_spec"])
            self.x_ref = jnp.asarray(_base_solution(self.jac, s_spec, x0, 1e-10))
            self.branches = ybus.branch_data(a["f"], a["t"], a["r"], a["x"], a["g"], a["b"],
                                             a["g_asym"], a["b_asym"], a["tap"], a["shift"],
                                             a["status"], jnp.asarray(shunt))
            if self.linear == "dense":
                prob, _ = build_problem(a)
                self.jinv = powerflow.reference_jacobian_inverse(prob, self.x_ref)
                self.chord_fn = self.newton_fn = None
                self.factor_nnz = int(self.jinv.size)
            else:
                prob = powerflow.PFProblem(ymat=None, p_spec=a["p_spec"], q_spec=a["q_spec"],
                                           vm_set=a["vm_set"], va_slack=a["va_slack"],
                                           is_slack=a["is_slack"], is_pv=a["is_pv"])
                self.jinv = None
                self.chord_fn, self.factor_nnz = sparse.chord_callback(self.jac,
                                                                       np.asarray(self.x_ref))
                self.newton_fn = sparse.newton_callback(self.jac, self.tol)
            self.problem = prob
        self._solve = jax.jit(jax.vmap(self._one))

    def _one(self, p_spec: jax.Array, q_spec: jax.Array) -> powerflow.PFResult:
        prob = self.problem._replace(p_spec=p_spec, q_spec=q_spec)
        return powerflow.solve_ac(prob, self.x_ref, self.jinv, max_chord=self.max_chord,
                                  max_newton=self.max_iteration, tol=self.tol,
                                  fixed_chord=self.fixed_chord, branches=self.branches,
                                  buffer=self.buffer, chord_fn=self.chord_fn,
                                  newton_fn=self.newton_fn)

    def base_injections(self) -> tuple[np.ndarray, np.ndarray]:
        """``(p, q)`` (n,) pu specified injections of the network's own operating point."""
        return np.asarray(self.arrays["p_spec"]), np.asarray(self.arrays["q_spec"])

    def solve(self, p_spec: Any, q_spec: Any) -> powerflow.PFResult:
        """Solve ``B`` operating points: ``p_spec``/``q_spec`` (B, n) pu specified injections
        (generation - load). Returns a batched ``PFResult`` (numpy-convertible, float64)."""
        with jax.enable_x64(True):
            return self._solve(jnp.asarray(p_spec, jnp.float64), jnp.asarray(q_spec, jnp.float64))
