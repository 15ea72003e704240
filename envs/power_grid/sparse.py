"""Sparse linear algebra of the AC power flow on large grids (host side, SuperLU via SciPy).

A dense ``2n x 2n`` Jacobian or inverse stops fitting at a few thousand buses (case2869pegase:
a 5,738 x 5,738 float64 matrix is 263 MB, one dense LU 1.3e11 flop), while the Jacobian itself
has about 10 non-zeros per row. This module keeps it sparse:

* :class:`SparseJacobian`: the bus admittance matrix as a SciPy CSR matrix and the power-flow
  Jacobian reduced to the active unknowns (angles at PV and PQ buses, magnitudes at PQ buses,
  the same ordering pandapower and MATPOWER use), built from the voltages in a few sparse
  products;
* the LU factorisation is SciPy's SuperLU (``scipy.sparse.linalg.splu``, COLAMD column ordering),
  maintained with SciPy, which is installed with pandapower already. No KLU, UMFPACK or
  PARDISO binding is among this project's dependencies;
* :func:`chord_callback` / :func:`newton_callback`: the two directions the JAX solver in
  :mod:`~twingym.envs.power_grid.powerflow` needs, as ``jax.pure_callback`` functions on the
  full ``[va; vm]`` layout. The chord direction reuses one factorisation (of the reference
  Jacobian) for every copy and every iteration, solving all copies of a batch as one
  multi-right-hand-side solve; the Newton direction factorises the Jacobian of each copy that
  reaches it (with :func:`~twingym.envs.power_grid.compact.compacted_while`, only the copies
  still unconverged).

Everything here is float64.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu


class SparseJacobian:
    """Sparse Ybus and reduced Jacobian of one network topology.

    ``ybus``: (n, n) complex CSR (pu); ``is_slack``/``is_pv``: (n,) bool. The reduced unknowns
    are ``x[red]`` with ``red = [pvpq, n + pq]`` of the full ``x = [va; vm]`` vector.
    """

    def __init__(self, ybus: sp.spmatrix, is_slack: np.ndarray, is_pv: np.ndarray):
        coo = sp.coo_matrix(ybus, dtype=complex)
        coo.sum_duplicates()
        self.n = n = coo.shape[0]
        self.ybus = sp.csr_matrix(coo)
        self._r, self._c, self._y = coo.row, coo.col, coo.data
        self._diag = self._r == self._c
        is_slack, is_pv = np.asarray(is_slack, bool), np.asarray(is_pv, bool)
        self.pvpq = np.flatnonzero(~is_slack)
        self.pq = np.flatnonzero(~is_slack & ~is_pv)
        self.red = np.concatenate([self.pvpq, n + self.pq])
        # position of every bus in the reduced angle (``ang``) and magnitude (``mag``) blocks
        ang = np.full(n, -1)
        ang[self.pvpq] = np.arange(len(self.pvpq))
        mag = np.full(n, -1)
        mag[self.pq] = len(self.pvpq) + np.arange(len(self.pq))
        self.m = len(self.red)
        # every Ybus entry (i, j) feeds up to four Jacobian entries: (P_i, va_j) and (Q_i, va_j)
        # from dS/dva, (P_i, vm_j) and (Q_i, vm_j) from dS/dvm
        rows, cols, src, part = [], [], [], []
        # parts in the order of ``pick`` in :meth:`matrix`: Re dS/dva, Re dS/dvm, Im dS/dva,
        # Im dS/dvm
        for k, (ri, ci) in enumerate(((ang, ang), (ang, mag), (mag, ang), (mag, mag))):
            keep = (ri[self._r] >= 0) & (ci[self._c] >= 0)
            rows.append(ri[self._r][keep])
            cols.append(ci[self._c][keep])
            src.append(np.flatnonzero(keep))
            part.append(np.full(int(keep.sum()), k))
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        self._src, self._part = np.concatenate(src), np.concatenate(part)
        order = sp.csc_matrix((np.arange(1, len(rows) + 1, dtype=float), (rows, cols)),
                              shape=(self.m, self.m))
        self._indices, self._indptr = order.indices, order.indptr
        self._order = order.data.astype(np.int64) - 1

    def matrix(self, x: np.ndarray) -> sp.csc_matrix:
        """Reduced Jacobian (m, m) CSC at ``x = [va; vm]`` (2n,), from the per-entry formulas
        ``dS_i/dva_j = -j V_i conj(Y_ij V_j) + [i=j] j V_i conj(I_i)`` and
        ``dS_i/dvm_j = V_i conj(Y_ij V_j / |V_j|) + [i=j] conj(I_i) V_i / |V_i|``."""
        n = self.n
        vm = x[n:]
        v = vm * np.exp(1j * x[:n])
        ibus = self.ybus @ v
        r, c, y = self._r, self._c, self._y
        d_va = -1j * v[r] * np.conj(y * v[c])
        d_vm = v[r] * np.conj(y * v[c]) / vm[c]
        d_va[self._diag] += 1j * v[r[self._diag]] * np.conj(ibus[r[self._diag]])
        d_vm[self._diag] += np.conj(ibus[r[self._diag]]) * v[r[self._diag]] / vm[r[self._diag]]
        pick = (d_va.real, d_vm.real, d_va.imag, d_vm.imag)
        vals = np.empty(len(self._src))
        for k in range(4):
            sel = self._part == k
            vals[sel] = pick[k][self._src[sel]]
        return sp.csc_matrix((vals[self._order], self._indices, self._indptr),
                             shape=(self.m, self.m))

    def factor(self, x: np.ndarray):
        """SuperLU factorisation of :meth:`matrix` at ``x``."""
        return splu(self.matrix(x))

    def solve_full(self, lu, f: np.ndarray) -> np.ndarray:
        """Full-layout direction ``dx`` (B, 2n) from full-layout mismatches ``f`` (B, 2n): the
        reduced system solved for every row of ``f`` at once, zeros on fixed variables."""
        rhs = np.ascontiguousarray(f[:, self.red].T)
        out = np.zeros_like(f)
        out[:, self.red] = lu.solve(rhs).T
        return out


def _float64_callback(host: Callable, shape: tuple, *args: jax.Array) -> jax.Array:
    """``jax.pure_callback`` returning float64 of ``shape`` even when the callback runs on a
    thread where JAX's 64-bit mode is off (``enable_x64`` is thread-local, and the callback's
    result would be canonicalised to float32 there): the bits travel as uint32 pairs."""
    def bits(*a):
        out = np.ascontiguousarray(host(*a), np.float64)
        return out.view(np.uint32).reshape(*out.shape, 2)

    out = jax.pure_callback(bits, jax.ShapeDtypeStruct((*shape, 2), jnp.uint32), *args,
                            vmap_method="broadcast_all")
    return jax.lax.bitcast_convert_type(out, jnp.float64)


def chord_callback(jac: SparseJacobian, x_ref: np.ndarray) -> tuple[Callable, int]:
    """``(direction(f) -> dx, nnz)``: the chord direction with the Jacobian at ``x_ref``
    factorised once (``nnz`` non-zeros in its L and U factors). ``f``/``dx``: (2n,) float64;
    batched by ``vmap`` it is one multi-right-hand-side solve."""
    lu = jac.factor(np.asarray(x_ref, np.float64))
    nnz = int(lu.L.nnz + lu.U.nnz)

    def host(f):
        f = np.asarray(f, np.float64)
        flat = f.reshape(-1, f.shape[-1])
        return jac.solve_full(lu, flat).reshape(f.shape)

    def direction(f: jax.Array) -> jax.Array:
        return _float64_callback(host, f.shape, f)

    return direction, nnz


def newton_callback(jac: SparseJacobian, tol: float) -> Callable:
    """``direction(x, f) -> J(x)^-1 f`` with a fresh sparse factorisation per copy (float64).

    Batched, rows whose mismatch is already within ``tol`` (copies a batched loop carries along
    after they converged, whose direction is discarded) and repeated rows (the padding of a
    gathered buffer) are not factorised again."""

    def host(x, f):
        x, f = np.asarray(x, np.float64), np.asarray(f, np.float64)
        xs, fs = x.reshape(-1, x.shape[-1]), f.reshape(-1, f.shape[-1])
        out = np.zeros_like(fs)
        done: dict[bytes, int] = {}
        for i in range(xs.shape[0]):
            err = np.max(np.abs(fs[i]))
            if not err > tol:             # converged or not finite: direction unused
                continue
            key = xs[i].tobytes() + fs[i].tobytes()
            if key in done:
                out[i] = out[done[key]]
                continue
            done[key] = i
            try:
                out[i] = jac.solve_full(jac.factor(xs[i]), fs[i:i + 1])[0]
            except RuntimeError:          # singular Jacobian: this copy does not converge
                out[i] = np.nan
        return out.reshape(f.shape)

    def direction(x: jax.Array, f: jax.Array) -> jax.Array:
        return _float64_callback(host, f.shape, x, f)

    return direction


def sparse_ybus(n: int, f: np.ndarray, t: np.ndarray, yff, yft, ytf, ytt,
                shunt_y: np.ndarray) -> sp.csr_matrix:
    """(n, n) complex CSR bus admittance matrix from branch two-port admittances (pu)."""
    rows = np.concatenate([f, f, t, t, np.arange(n)])
    cols = np.concatenate([f, t, f, t, np.arange(n)])
    vals = np.concatenate([np.asarray(v, complex) for v in (yff, yft, ytf, ytt, shunt_y)])
    return sp.csr_matrix(sp.coo_matrix((vals, (rows, cols)), shape=(n, n)))
