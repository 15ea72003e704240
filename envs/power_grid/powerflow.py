"""AC power flow (Newton-Raphson, optionally with a reused factorisation) and DC power flow in JAX.

Unknowns are the polar bus voltages ``x = [va (n), vm (n)]``. The equations are the active power
balance at every non-slack bus and the reactive balance at every PQ bus. Rows of fixed variables
(slack angle, slack and PV magnitudes) are replaced by identity rows, so the system is always
``2n x 2n`` and the bus types are arrays (traceable, vmappable) rather than index lists.

Two iteration kinds, both inside ``lax.while_loop`` with a fixed budget and a convergence flag:

* ``chord``: ``x -= J0^-1 F(x)`` with a Jacobian inverse ``J0^-1`` computed once per grid (at a
  reference operating point) and shared by every copy of a batch. One iteration is two dense
  matrix products, which batch into BLAS matrix-matrix products. Convergence is linear; a step
  that does not reduce the mismatch is rejected and ends the chord phase for that copy.
* ``newton``: exact Newton with the Jacobian rebuilt and solved (dense LU) every iteration.
  Quadratic convergence, used from where the chord phase stopped. Under ``vmap`` a while loop runs
  only as long as some copy still needs it, so a batch whose chord phase converged everywhere pays
  nothing for the Newton phase.

All arithmetic follows the dtype of the inputs (float32/complex64 or float64/complex128).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from twingym.envs.power_grid import ybus


class PFProblem(NamedTuple):
    """One power-flow problem. Shapes: ``n`` buses.

    ymat: (2n, 2n) real block form ``[[G, -B], [B, G]]`` of the bus admittance matrix
    ``Y = G + jB`` (pu), so that ``[Re I; Im I] = ymat @ [Re V; Im V]`` is one real matrix
    product (much faster than a complex one on CPUs); p_spec, q_spec: (n,) pu specified injections
    (generation - load); vm_set: (n,) pu magnitudes used at PV and slack buses; va_slack: () rad;
    is_slack, is_pv: (n,) bool.
    """

    ymat: jax.Array
    p_spec: jax.Array
    q_spec: jax.Array
    vm_set: jax.Array
    va_slack: jax.Array
    is_slack: jax.Array
    is_pv: jax.Array


class PFResult(NamedTuple):
    """Solution: ``va`` (n,) rad, ``vm`` (n,) pu, ``converged`` bool, ``iterations`` int32
    (chord + Newton), ``mismatch`` () largest remaining power mismatch (pu)."""

    va: jax.Array
    vm: jax.Array
    converged: jax.Array
    iterations: jax.Array
    mismatch: jax.Array


def _row_masks(p: PFProblem) -> tuple[jax.Array, jax.Array]:
    """(2n,) bool: which equation rows are active, and the matching fixed-variable rows."""
    p_rows = ~p.is_slack
    q_rows = ~(p.is_slack | p.is_pv)
    active = jnp.concatenate([p_rows, q_rows])
    return active, ~active


def ybus_to_real(y: jax.Array) -> jax.Array:
    """Complex ``(n, n)`` admittance matrix -> real ``(2n, 2n)`` block form ``[[G, -B], [B, G]]``."""
    return jnp.block([[y.real, -y.imag], [y.imag, y.real]])


def ybus_from_real(ymat: jax.Array) -> jax.Array:
    """Inverse of :func:`ybus_to_real`."""
    n = ymat.shape[0] // 2
    return ymat[:n, :n] + 1j * ymat[n:, :n]


def n_bus(p: PFProblem) -> int:
    return p.ymat.shape[0] // 2


def exact_sum(a: jax.Array) -> jax.Array:
    """Sum over the last axis by explicit pairwise halving (elementwise adds only), so the
    rounding is the same whether or not the call is batched by ``vmap``."""
    k = a.shape[-1]
    width = 1 << max(k - 1, 0).bit_length()
    a = jnp.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - k)])
    while a.shape[-1] > 1:
        half = a.shape[-1] // 2
        a = a[..., :half] + a[..., half:]
    return a[..., 0]


def matvec(m: jax.Array, v: jax.Array, exact: bool = False) -> jax.Array:
    """``m @ v``. With ``exact`` as products summed by :func:`exact_sum`, whose rounding does not
    change when the call is batched by ``vmap`` (a batched matrix product uses another kernel and
    summation order than a single one; in float32 that difference shows in branch flows, and it
    makes batched and single copies drift apart)."""
    return exact_sum(m * v[None, :]) if exact else m @ v


def power_injection(x: jax.Array, ymat: jax.Array, exact: bool = False) -> jax.Array:
    """(2n,) computed injections ``[P; Q]`` (pu) at polar voltages ``x = [va; vm]``."""
    n = ymat.shape[0] // 2
    va, vm = x[:n], x[n:]
    e, f = vm * jnp.cos(va), vm * jnp.sin(va)
    cur = matvec(ymat, jnp.concatenate([e, f]), exact)
    ir, ii = cur[:n], cur[n:]
    return jnp.concatenate([e * ir + f * ii, f * ir - e * ii])


def mismatch(x: jax.Array, p: PFProblem, exact: bool = False, bd=None) -> jax.Array:
    """(2n,) power mismatch ``S(V) - S_spec`` (real, imaginary), zero on fixed rows.

    With ``bd`` (a ``ybus.BranchData``) the injections are sums of cancellation-free branch
    flows (accurate in float32); otherwise one dense product with ``p.ymat``."""
    if bd is not None:
        n = n_bus(p)
        inj = ybus.accurate_injection(x[:n], x[n:], bd)
    else:
        inj = power_injection(x, p.ymat, exact)
    s = inj - jnp.concatenate([p.p_spec, p.q_spec])
    active, _ = _row_masks(p)
    return jnp.where(active, s, 0.0)


def jacobian(x: jax.Array, p: PFProblem, exact: bool = False) -> jax.Array:
    """(2n, 2n) Jacobian of :func:`mismatch` with identity rows for fixed variables."""
    n = n_bus(p)
    va, vm = x[:n], x[n:]
    ybus = ybus_from_real(p.ymat)
    e, f = vm * jnp.cos(va), vm * jnp.sin(va)
    v = (e + 1j * f).astype(ybus.dtype)
    vnorm = v / vm
    cur = matvec(p.ymat, jnp.concatenate([e, f]), exact)
    ibus = (cur[:n] + 1j * cur[n:]).astype(ybus.dtype)
    ds_dvm = v[:, None] * jnp.conj(ybus * vnorm[None, :]) + jnp.diag(jnp.conj(ibus) * vnorm)
    ds_dva = 1j * v[:, None] * jnp.conj(jnp.diag(ibus) - ybus * v[None, :])
    jac = jnp.block([[ds_dva.real, ds_dvm.real], [ds_dva.imag, ds_dvm.imag]])
    active, _ = _row_masks(p)
    eye = jnp.eye(2 * n, dtype=jac.dtype)
    return jnp.where(active[:, None], jac, eye)


def initial_point(p: PFProblem, va0: jax.Array | None = None) -> jax.Array:
    """(2n,) start: given (or zero) angles with the slack angle imposed, set-point magnitudes at
    PV/slack buses and 1.0 pu elsewhere."""
    n = n_bus(p)
    dtype = p.vm_set.dtype
    va = jnp.zeros(n, dtype) if va0 is None else jnp.asarray(va0, dtype)
    va = jnp.where(p.is_slack, p.va_slack, va)
    vm = jnp.where(p.is_slack | p.is_pv, p.vm_set, 1.0).astype(dtype)
    return jnp.concatenate([va, vm])


def _inf_norm(f):
    return jnp.max(jnp.abs(f))


def chord_phase(x0: jax.Array, p: PFProblem, jinv: jax.Array, max_iter: int,
                tol: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Chord iterations ``x -= jinv @ F(x)``; returns ``(x, |F|, iterations)``.

    Stops when converged, when ``max_iter`` is reached, or when a step makes the mismatch grow
    (that step is rejected, so the result is never worse than the start)."""
    f0 = mismatch(x0, p)

    def cond(c):
        _, f, it, stalled = c
        return (_inf_norm(f) > tol) & (it < max_iter) & ~stalled

    def body(c):
        x, f, it, _ = c
        x_new = x - jinv @ f
        f_new = mismatch(x_new, p)
        ok = jnp.isfinite(_inf_norm(f_new)) & (_inf_norm(f_new) < _inf_norm(f))
        return (jnp.where(ok, x_new, x), jnp.where(ok, f_new, f), it + 1, ~ok)

    x, f, it, _ = lax.while_loop(cond, body, (x0, f0, jnp.int32(0), jnp.bool_(False)))
    return x, _inf_norm(f), it


def chord_fixed(x0: jax.Array, p: PFProblem, jinv: jax.Array, iters: int,
                exact: bool = False, bd=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Exactly ``iters`` chord iterations, every step accepted; if the end point is worse than
    the start (or not finite) the start is returned.

    A fixed count with no per-step decisions makes a copy's result bitwise independent of the
    other copies it is batched with (with ``exact``): a tolerance or acceptance test evaluated
    at round-off level can flip between a batched and a single run."""
    f0 = mismatch(x0, p, exact, bd)

    def body(_, c):
        x, f = c
        x_new = x - matvec(jinv, f, exact)
        return x_new, mismatch(x_new, p, exact, bd)

    x, f = lax.fori_loop(0, iters, body, (x0, f0))
    better = jnp.isfinite(_inf_norm(f)) & (_inf_norm(f) <= _inf_norm(f0))
    x = jnp.where(better, x, x0)
    return x, jnp.where(better, _inf_norm(f), _inf_norm(f0)), jnp.int32(iters)


def newton_phase(x0: jax.Array, p: PFProblem, max_iter: int, tol: float,
                 exact: bool = False, bd=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Exact Newton iterations; returns ``(x, |F|, iterations)``."""
    f0 = mismatch(x0, p, exact, bd)

    def cond(c):
        _, f, it = c
        err = _inf_norm(f)
        return (err > tol) & (it < max_iter) & jnp.isfinite(err)

    def body(c):
        x, f, it = c
        x = x - jnp.linalg.solve(jacobian(x, p, exact), f)
        return x, mismatch(x, p, exact, bd), it + 1

    x, f, it = lax.while_loop(cond, body, (x0, f0, jnp.int32(0)))
    return x, _inf_norm(f), it


def solve_ac(p: PFProblem, x0: jax.Array, jinv: jax.Array | None = None, *,
             max_chord: int = 30, max_newton: int = 10, tol: float = 1e-9,
             fixed_chord: bool = False, polish: int = 0, exact: bool = False,
             branches: ybus.BranchData | None = None) -> PFResult:
    """Solve the AC power flow from ``x0`` (see :func:`initial_point`).

    With ``jinv`` (a ``(2n, 2n)`` inverse Jacobian, e.g. from :func:`reference_jacobian_inverse`)
    chord iterations run first; exact Newton iterations then finish whatever is left. ``tol`` is
    the largest allowed power mismatch in pu (1e-9 pu = 1e-7 MW on a 100 MVA base). With
    ``fixed_chord`` exactly ``max_chord`` chord iterations run (see :func:`chord_fixed`);
    ``polish`` more chord iterations always run at the end, so that copies stopped on either side
    of the tolerance (round-off decides that in float32) end up much closer than the tolerance.
    ``exact`` makes every matrix-vector product batching-invariant (see :func:`matvec`).
    ``branches`` switches the mismatch to cancellation-free branch sums (see :func:`mismatch`).
    """
    it_c = jnp.int32(0)
    x = x0
    if jinv is not None:
        if fixed_chord:
            x, _, it_c = chord_fixed(x0, p, jinv, max_chord, exact, branches)
        else:
            x, _, it_c = chord_phase(x0, p, jinv, max_chord, tol)
    x, err, it_n = newton_phase(x, p, max_newton, tol, exact, branches)
    if jinv is not None and polish > 0:
        x, err_p, _ = chord_fixed(x, p, jinv, polish, exact, branches)
        err = jnp.minimum(err, err_p)
    n = n_bus(p)
    ok = (err <= tol) & jnp.all(jnp.isfinite(x))
    return PFResult(va=x[:n], vm=x[n:], converged=ok, iterations=it_c + it_n, mismatch=err)


def reference_jacobian_inverse(p: PFProblem, x: jax.Array) -> jax.Array:
    """``J(x)^-1`` (2n, 2n) for chord iterations; compute once per grid and reuse."""
    return jnp.linalg.inv(jacobian(x, p))


def solve_dc(b_branch: jax.Array, f: jax.Array, t: jax.Array, shift_rad: jax.Array,
             p_spec: jax.Array, is_slack: jax.Array, va_slack: jax.Array) -> tuple[jax.Array, jax.Array]:
    """DC power flow.

    Args: branch susceptances ``b_branch`` (n_branch,) pu (see ``ybus.dc_susceptance``), bus rows
    ``f``/``t``, phase shifts ``shift_rad`` (n_branch,), net active injections ``p_spec`` (n,) pu
    (generation - load - shunt conductance), ``is_slack`` (n,) bool, ``va_slack`` () rad.

    Returns ``(va (n,) rad, p_from (n_branch,) pu)``.
    """
    n = p_spec.shape[0]
    dtype = p_spec.dtype
    inc = jnp.zeros((b_branch.shape[0], n), dtype).at[jnp.arange(f.shape[0]), f].set(1.0)
    inc = inc.at[jnp.arange(t.shape[0]), t].add(-1.0)
    bbus = inc.T @ (b_branch[:, None] * inc)
    p_fin = -b_branch * shift_rad
    p_bus = p_spec - inc.T @ p_fin
    a = jnp.where(is_slack[:, None], jnp.eye(n, dtype=dtype), bbus)
    rhs = jnp.where(is_slack, va_slack, p_bus)
    va = jnp.linalg.solve(a, rhs)
    p_from = b_branch * (va[f] - va[t]) + p_fin
    return va, p_from
