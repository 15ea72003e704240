"""Branch admittances and the dense bus admittance matrix, in JAX.

Every branch is the (possibly asymmetric) pi model with an ideal transformer of complex ratio
``tap * exp(j*shift)`` at its from end:

    I_from = Yff V_from + Yft V_to,        I_to = Ytf V_from + Ytt V_to
    Yff = (ys + yc_f) / |tap|^2,  Yft = -ys / conj(tap),  Ytf = -ys / tap,  Ytt = ys + yc_t

with ``ys = 1 / (r + jx)``, ``yc_f = (g + jb) / 2`` and ``yc_t = (g + g_asym + j(b + b_asym)) / 2``.
An out-of-service branch (status 0) contributes nothing. All values per unit; the complex dtype
follows the float dtype of the inputs (complex64 for float32, complex128 for float64).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class BranchAdmittance(NamedTuple):
    """Per-branch two-port admittances, each ``(n_branch,)`` complex, per unit."""

    yff: jax.Array
    yft: jax.Array
    ytf: jax.Array
    ytt: jax.Array


def branch_admittance(r, x, g, b, g_asym, b_asym, tap, shift_rad, status) -> BranchAdmittance:
    """Two-port admittances of every branch.

    Args (all ``(n_branch,)`` real): series ``r``/``x`` (pu), total shunt ``g``/``b`` (pu),
    extra to-side shunt ``g_asym``/``b_asym`` (pu), off-nominal ratio ``tap`` (0 means 1),
    phase shift ``shift_rad`` (rad), ``status`` (1 in service, 0 out; fractional values scale).
    """
    cdt = jnp.result_type(jnp.asarray(r).dtype, jnp.complex64)
    status = jnp.asarray(status).astype(jnp.asarray(r).dtype)
    z = (r + 1j * x).astype(cdt)
    ys = status / jnp.where(z == 0, 1.0, z)
    yc_f = status * (g + 1j * b).astype(cdt) / 2
    yc_t = status * (g + g_asym + 1j * (b + b_asym)).astype(cdt) / 2
    ratio = jnp.where(tap == 0, 1.0, tap)
    t = (ratio * jnp.exp(1j * shift_rad)).astype(cdt)
    return BranchAdmittance(yff=(ys + yc_f) / (ratio * ratio), yft=-ys / jnp.conj(t),
                            ytf=-ys / t, ytt=ys + yc_t)


def make_ybus(n_bus: int, f: jax.Array, t: jax.Array, br: BranchAdmittance,
              shunt_y: jax.Array) -> jax.Array:
    """Dense ``(n_bus, n_bus)`` complex bus admittance matrix (pu) from branches and bus shunts.

    ``f``/``t`` are ``(n_branch,)`` int bus rows; ``shunt_y`` is ``(n_bus,)`` complex (g + jb).
    """
    y = jnp.zeros((n_bus, n_bus), dtype=br.yff.dtype)
    y = y.at[f, f].add(br.yff)
    y = y.at[f, t].add(br.yft)
    y = y.at[t, f].add(br.ytf)
    y = y.at[t, t].add(br.ytt)
    return y + jnp.diag(shunt_y.astype(br.yff.dtype))


def branch_flows(v: jax.Array, f: jax.Array, t: jax.Array,
                 br: BranchAdmittance) -> tuple[jax.Array, jax.Array]:
    """Complex power entering each branch at its from and to ends, ``(n_branch,)`` pu each."""
    vf, vt = v[f], v[t]
    i_f = br.yff * vf + br.yft * vt
    i_t = br.ytf * vf + br.ytt * vt
    return vf * jnp.conj(i_f), vt * jnp.conj(i_t)


def dc_susceptance(x, tap, status) -> jax.Array:
    """DC-model branch susceptance ``status / (x * tap)`` (pu), ``(n_branch,)``."""
    ratio = jnp.where(tap == 0, 1.0, tap)
    return jnp.asarray(status).astype(jnp.asarray(x).dtype) / jnp.where(x == 0, 1.0, x * ratio)


class BranchData(NamedTuple):
    """Branches in the form used by the cancellation-free flow formulas (see
    :func:`accurate_branch_flows`): bus rows ``f``/``t`` (n_branch,) int, series admittance
    ``ys``, half shunts ``ycf``/``yct`` (complex, status applied), tap magnitude ``tau`` and angle
    ``phi`` (rad), and bus shunts ``ysh`` (n,) complex."""

    f: jax.Array
    t: jax.Array
    ys: jax.Array
    ycf: jax.Array
    yct: jax.Array
    tau: jax.Array
    phi: jax.Array
    ysh: jax.Array


def branch_data(f, t, r, x, g, b, g_asym, b_asym, tap, shift_rad, status, shunt_y) -> BranchData:
    """:class:`BranchData` from the same inputs as :func:`branch_admittance`."""
    dtype = jnp.asarray(r).dtype
    cdt = jnp.result_type(dtype, jnp.complex64)
    status = jnp.asarray(status).astype(dtype)
    z = (r + 1j * x).astype(cdt)
    ys = status / jnp.where(z == 0, 1.0, z)
    ycf = status * (g + 1j * b).astype(cdt) / 2
    yct = status * (g + g_asym + 1j * (b + b_asym)).astype(cdt) / 2
    tau = jnp.where(tap == 0, 1.0, tap).astype(dtype)
    return BranchData(f=f, t=t, ys=ys, ycf=ycf, yct=yct, tau=tau, phi=shift_rad.astype(dtype),
                      ysh=shunt_y.astype(cdt))


def accurate_branch_flows(va: jax.Array, vm: jax.Array,
                          bd: BranchData) -> tuple[jax.Array, jax.Array]:
    """Complex power into each branch at its from/to ends (pu), computed without cancellation.

    ``I_f = ys / conj(a) * (V_f / a - V_t) + ycf V_f / tau^2`` and ``I_t = -ys (V_f / a - V_t) +
    yct V_t`` with ``a = tau e^{j phi}``; the small difference ``V_f / a - V_t`` is formed from
    the angle difference, ``e^{j th_t} [(u - vm_t) - 2 u sin^2(d / 2) + j u sin d]`` with
    ``u = vm_f / tau`` and ``d = th_f - th_t - phi``. In float32 this keeps branch flows accurate
    to round-off of the flow itself, where ``Y @ V`` loses digits to the large, nearly cancelling
    admittances.
    """
    u = vm[bd.f] / bd.tau
    d = va[bd.f] - va[bd.t] - bd.phi
    s = jnp.sin(0.5 * d)
    dv_rot = (u - vm[bd.t]) - 2.0 * u * s * s + 1j * (u * jnp.sin(d))     # (V_f/a - V_t) e^{-j th_t}
    et = jnp.exp(1j * va[bd.t])
    dv = dv_rot * et
    vf = vm[bd.f] * jnp.exp(1j * va[bd.f])
    vt = vm[bd.t] * et
    a_conj = bd.tau * jnp.exp(-1j * bd.phi)
    i_f = bd.ys / a_conj * dv + bd.ycf * vf / (bd.tau * bd.tau)
    i_t = -bd.ys * dv + bd.yct * vt
    return vf * jnp.conj(i_f), vt * jnp.conj(i_t)


def accurate_injection(va: jax.Array, vm: jax.Array, bd: BranchData) -> jax.Array:
    """(2n,) bus injections ``[P; Q]`` (pu) as sums of accurate branch flows plus shunts."""
    n = va.shape[0]
    sf, st = accurate_branch_flows(va, vm, bd)
    s = jnp.zeros(n, sf.dtype).at[bd.f].add(sf).at[bd.t].add(st)
    s = s + jnp.conj(bd.ysh) * vm * vm
    return jnp.concatenate([s.real, s.imag])
