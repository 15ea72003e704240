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

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from twingym.envs.power_grid import ybus
from twingym.envs.power_grid.compact import compacted_while


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
    (chord + Newton), ``mismatch`` () largest remaining power mismatch (pu),
    ``newton_iterations`` int32 (the Newton part of ``iterations``)."""

    va: jax.Array
    vm: jax.Array
    converged: jax.Array
    iterations: jax.Array
    mismatch: jax.Array
    newton_iterations: jax.Array | int = 0


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
    return p.p_spec.shape[-1]


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


class LowRank(NamedTuple):
    """A low-rank change ``E D E^T`` of the chord Jacobian ``J0``, applied through its inverse
    (Woodbury): ``(J0 + E D E^T)^-1 F = y - g @ (h @ y[idx])`` with ``y = J0^-1 F``.

    idx: (r,) int rows/columns touched (``E`` selects them); g: (2n, r) ``J0^-1[:, idx] D``;
    h: (r, r) ``(I + J0^-1[idx, idx] D)^-1``."""

    idx: jax.Array
    g: jax.Array
    h: jax.Array


def _branch_block(x4: jax.Array, yff, yft, ytf, ytt) -> jax.Array:
    """``[P_f, P_t, Q_f, Q_t]`` (pu) injected into a branch at ``x4 = [va_f, va_t, vm_f, vm_t]``."""
    vf = x4[2] * jnp.exp(1j * x4[0])
    vt = x4[3] * jnp.exp(1j * x4[1])
    sf = vf * jnp.conj(yff * vf + yft * vt)
    st = vt * jnp.conj(ytf * vf + ytt * vt)
    return jnp.stack([sf.real, st.real, sf.imag, st.imag])


def topology_change(jinv: jax.Array, x_ref: jax.Array, active: jax.Array, f: jax.Array,
                    t: jax.Array, br_unit: ybus.BranchAdmittance, weight: jax.Array,
                    released: jax.Array | None = None, exact: bool = False) -> LowRank:
    """The chord matrix ``jinv = J0^-1`` (factorised for one topology) updated for ``k`` branches
    whose status changed, without refactorising: each branch adds ``weight`` times its own
    4x4 Jacobian block (at ``x_ref``) on rows/columns ``[va_f, va_t, vm_f, vm_t]``.

    ``f``/``t``: (k,) bus rows; ``br_unit``: their admittances at status 1, (k,) each; ``weight``:
    (k,) status change (-1 for a trip, 0 for an unused slot); ``active``: (2n,) bool equation rows
    of ``J0`` (fixed rows keep their identity); ``released``: (2n,) bool rows active in ``J0``
    that are now fixed (a bus cut off by the outage): they become identity rows, which is exact
    when the branch was the bus's only connection. Returns a :class:`LowRank` of rank ``4k``."""
    n = x_ref.shape[0] // 2
    idx4 = jnp.stack([f, t, n + f, n + t], axis=1)                           # (k, 4)
    blocks = jax.vmap(jax.jacfwd(_branch_block))(x_ref[idx4], *br_unit)     # (k, 4, 4)
    blocks = blocks * (weight[:, None, None] * active[idx4][:, :, None])
    if released is not None:
        used = (weight != 0)[:, None]
        blocks = blocks + jax.vmap(jnp.diag)((released[idx4] & used).astype(blocks.dtype))
    k = f.shape[0]
    d = jnp.zeros((4 * k, 4 * k), blocks.dtype)
    for i in range(k):
        d = d.at[4 * i:4 * i + 4, 4 * i:4 * i + 4].set(blocks[i])
    idx = idx4.reshape(-1)
    cols = jinv[:, idx]                                                      # (2n, r)
    g = jax.vmap(lambda row: matvec(d.T, row, exact))(cols)                  # cols @ d
    m_d = jax.vmap(lambda row: matvec(d.T, row, exact))(cols[idx])           # M @ d
    h = jnp.linalg.inv(jnp.eye(4 * k, dtype=d.dtype) + m_d)
    return LowRank(idx=idx, g=g, h=h)


def chord_direction(jinv: jax.Array, f: jax.Array, change: LowRank | None = None,
                    exact: bool = False) -> jax.Array:
    """``J^-1 f`` for the chord matrix ``jinv``, with a :class:`LowRank` topology change."""
    y = matvec(jinv, f, exact)
    if change is None:
        return y
    return y - matvec(change.g, matvec(change.h, y[change.idx], exact), exact)


def chord_fixed(x0: jax.Array, p: PFProblem, jinv: jax.Array | None, iters: int,
                exact: bool = False, bd=None, change: LowRank | None = None,
                chord_fn: Callable | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Exactly ``iters`` chord iterations, every step accepted; if the end point is worse than
    the start (or not finite) the start is returned. Returns ``(x, |F|, iterations)``.

    A fixed count with no per-step decisions keeps every copy of a batch in step (one batched
    matrix product per iteration)."""
    f0 = mismatch(x0, p, exact, bd)

    def body(_, c):
        x, f = c
        x_new = x - (chord_fn(f) if chord_fn else chord_direction(jinv, f, change, exact))
        return x_new, mismatch(x_new, p, exact, bd)

    x, f = lax.fori_loop(0, iters, body, (x0, f0))
    better = jnp.isfinite(_inf_norm(f)) & (_inf_norm(f) <= _inf_norm(f0))
    x = jnp.where(better, x, x0)
    return x, jnp.where(better, _inf_norm(f), _inf_norm(f0)), jnp.int32(iters)


def chord_phase(x0: jax.Array, p: PFProblem, jinv: jax.Array | None, max_iter: int, tol: float,
                exact: bool = False, bd=None, change: LowRank | None = None,
                buffer: int | None = None,
                chord_fn: Callable | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Chord iterations ``x -= J^-1 F(x)`` until converged, ``max_iter``, or a step that makes
    the mismatch grow (that step is rejected, so the result is never worse than the start).
    Returns ``(x, |F|, iterations)``. Batched, only the copies still above ``tol`` iterate
    (gathered, see :func:`~twingym.envs.power_grid.compact.compacted_while`)."""
    f0 = mismatch(x0, p, exact, bd)

    def cond(_, c):
        _, f, it, stalled = c
        return (_inf_norm(f) > tol) & (it < max_iter) & ~stalled

    def body(consts, c):
        p, jinv, bd, change = consts
        x, f, it, _ = c
        x_new = x - (chord_fn(f) if chord_fn else chord_direction(jinv, f, change, exact))
        f_new = mismatch(x_new, p, exact, bd)
        ok = jnp.isfinite(_inf_norm(f_new)) & (_inf_norm(f_new) < _inf_norm(f))
        return (jnp.where(ok, x_new, x), jnp.where(ok, f_new, f), it + 1, ~ok)

    x, f, it, _ = compacted_while(cond, body, (p, jinv, bd, change),
                                  (x0, f0, jnp.int32(0), jnp.bool_(False)), buffer)
    return x, _inf_norm(f), it


def newton_phase(x0: jax.Array, p: PFProblem, max_iter: int, tol: float,
                 exact: bool = False, bd=None, buffer: int | None = None,
                 newton_fn: Callable | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Exact Newton iterations; returns ``(x, |F|, iterations)``.

    Batched by ``vmap``, only the copies whose mismatch is still above ``tol`` iterate, gathered
    in buffers of ``buffer`` copies (see :func:`~twingym.envs.power_grid.compact.compacted_while`):
    a copy whose earlier phase converged pays one mismatch check, not a batched LU."""
    f0 = mismatch(x0, p, exact, bd)

    def cond(_, c):
        _, f, it = c
        err = _inf_norm(f)
        return (err > tol) & (it < max_iter) & jnp.isfinite(err)

    def body(consts, c):
        p, bd = consts
        x, f, it = c
        dx = newton_fn(x, f) if newton_fn else jnp.linalg.solve(jacobian(x, p, exact), f)
        x = x - dx
        return x, mismatch(x, p, exact, bd), it + 1

    x, f, it = compacted_while(cond, body, (p, bd), (x0, f0, jnp.int32(0)), buffer)
    return x, _inf_norm(f), it


def solve_ac(p: PFProblem, x0: jax.Array, jinv: jax.Array | None = None, *,
             max_chord: int = 30, max_newton: int = 10, tol: float = 1e-8,
             fixed_chord: int = 0, polish: int = 0, exact: bool = False,
             branches: ybus.BranchData | None = None, change: LowRank | None = None,
             buffer: int | None = None, chord_fn: Callable | None = None,
             newton_fn: Callable | None = None) -> PFResult:
    """Solve the AC power flow from ``x0`` (see :func:`initial_point`).

    Convergence is pandapower's test: the largest entry of the power mismatch vector (P at PV
    and PQ buses, Q at PQ buses, in pu on the network's ``sn_mva``) below ``tol`` (pandapower's
    ``tolerance_mva``, default 1e-8, is compared with exactly this per-unit vector).

    With ``jinv`` (a ``(2n, 2n)`` inverse Jacobian, e.g. from :func:`reference_jacobian_inverse`,
    optionally with a :class:`LowRank` topology ``change``) chord iterations run first: the
    first ``fixed_chord`` for every copy (in step, batched), then up to ``max_chord`` in all
    for the copies not yet converged (see :func:`chord_phase`); exact Newton iterations then
    finish whatever is left. Batched by ``vmap``, a copy that has converged stops paying: the
    adaptive phases run on gathered buffers of ``buffer`` copies that still need them.
    ``polish`` more chord iterations always run at the end, so that copies stopped on either
    side of the tolerance (round-off decides that in float32) end up much closer than it.
    ``exact`` makes every matrix-vector product batching-invariant (see :func:`matvec`).
    ``branches`` switches the mismatch to cancellation-free branch sums (see :func:`mismatch`).
    ``chord_fn(f)`` and ``newton_fn(x, f)`` replace the dense chord and Newton directions (e.g.
    the sparse ones of :mod:`~twingym.envs.power_grid.sparse`; ``p.ymat`` may then be None,
    with ``branches`` given).
    """
    it_c = jnp.int32(0)
    x = x0
    chord = jinv is not None or chord_fn is not None
    if chord:
        if fixed_chord > 0:
            x, _, it_c = chord_fixed(x0, p, jinv, min(fixed_chord, max_chord), exact, branches,
                                     change, chord_fn)
        if max_chord > fixed_chord:
            x, _, it_a = chord_phase(x, p, jinv, max_chord - fixed_chord, tol, exact, branches,
                                     change, buffer, chord_fn)
            it_c = it_c + it_a
    x, err, it_n = newton_phase(x, p, max_newton, tol, exact, branches, buffer, newton_fn)
    if chord and polish > 0:
        x, err_p, _ = chord_fixed(x, p, jinv, polish, exact, branches, change, chord_fn)
        err = jnp.minimum(err, err_p)
    n = n_bus(p)
    ok = (err <= tol) & jnp.all(jnp.isfinite(x))
    return PFResult(va=x[:n], vm=x[n:], converged=ok, iterations=it_c + it_n, mismatch=err,
                    newton_iterations=it_n)


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
