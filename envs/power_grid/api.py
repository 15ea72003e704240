"""Public power-flow entry points on pandapower networks: ``runpp(net)`` and ``rundcpp(net)``.

Both convert ``net`` with :func:`from_pandapower`, solve in float64 (inside a local
``jax.enable_x64`` context, so the process-wide default dtype of other twins stays float32) and
return a plain dict of numpy arrays:

==========================  ===============  =====================================================
key                         shape            meaning
==========================  ===============  =====================================================
``vm_pu``                   (len(net.bus),)  voltage magnitude, pu, ``net.bus`` order (buses fused
                                             by a closed bus-bus switch share one value)
``va_degree``               (len(net.bus),)  voltage angle, degrees
``line_p_from_mw``          (n_line,)        active power into the line at its from bus, MW
``line_q_from_mvar``        (n_line,)        reactive power into the line at its from bus, Mvar
``line_loading_percent``    (n_line,)        max(from, to) current / (max_i_ka * df * parallel)
``trafo_p_hv_mw``           (n_trafo,)       active power into the trafo at its hv bus, MW
``trafo_q_hv_mvar``         (n_trafo,)       reactive power at the hv bus, Mvar
``trafo_loading_percent``   (n_trafo,)       max(hv, lv) current x rated voltage / sn_mva
``converged``               bool             the flow met the tolerance within the budget
``iterations``              int              Newton iterations used
==========================  ===============  =====================================================

These follow pandapower's result definitions (``res_bus``, ``res_line``, ``res_trafo``), so the
numbers can be compared one to one.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.power_grid import powerflow, ybus
from twingym.envs.power_grid.network import Network, from_pandapower


def _bucket(n: int, minimum: int = 16) -> int:
    """Smallest power of two >= max(n, minimum)."""
    return max(minimum, 1 << max(n - 1, 0).bit_length())


def problem_arrays(network: Network, dtype=jnp.float64, pad: bool = False) -> dict[str, Any]:
    """Arrays describing ``network``'s base operating point (jnp, ``dtype`` floats).

    With ``pad``, buses and branches are padded to the next power of two so that networks of
    similar size share one compiled solver: padded buses are isolated and held fixed like the
    slack (their equations are inactive), padded branches are out of service.
    """
    p, q = network.bus_injection_mw()
    kind = network.bus_type()
    if pad:
        nb, nbr = _bucket(network.n_bus), _bucket(network.n_branch)
        return _pad(problem_arrays(network, dtype), nb, nbr)
    return dict(
        f=jnp.asarray(network.br_from, jnp.int32), t=jnp.asarray(network.br_to, jnp.int32),
        r=jnp.asarray(network.br_r, dtype), x=jnp.asarray(network.br_x, dtype),
        g=jnp.asarray(network.br_g, dtype), b=jnp.asarray(network.br_b, dtype),
        g_asym=jnp.asarray(network.br_g_asym, dtype), b_asym=jnp.asarray(network.br_b_asym, dtype),
        tap=jnp.asarray(network.br_tap, dtype),
        shift=jnp.asarray(np.deg2rad(network.br_shift_deg), dtype),
        status=jnp.asarray(network.br_in_service, dtype),
        shunt_g=jnp.asarray(network.shunt_y.real, dtype), shunt_b=jnp.asarray(network.shunt_y.imag, dtype),
        p_spec=jnp.asarray(p / network.sn_mva, dtype), q_spec=jnp.asarray(q / network.sn_mva, dtype),
        vm_set=jnp.asarray(network.vm_setpoint(), dtype),
        va_slack=jnp.asarray(np.deg2rad(network.slack_va_deg), dtype),
        is_slack=jnp.asarray(kind == 2), is_pv=jnp.asarray(kind == 1),
    )


def _pad(a: dict[str, Any], nb: int, nbr: int) -> dict[str, Any]:
    n, m = a["p_spec"].shape[0], a["f"].shape[0]
    out = dict(a)
    for k in ("f", "t", "r", "x", "g", "b", "g_asym", "b_asym", "tap", "shift", "status"):
        fill = 1.0 if k in ("x", "tap") else 0
        out[k] = jnp.concatenate([a[k], jnp.full(nbr - m, fill, a[k].dtype)])
    for k in ("shunt_g", "shunt_b", "p_spec", "q_spec", "is_pv"):
        out[k] = jnp.concatenate([a[k], jnp.zeros(nb - n, a[k].dtype)])
    out["vm_set"] = jnp.concatenate([a["vm_set"], jnp.ones(nb - n, a["vm_set"].dtype)])
    out["is_slack"] = jnp.concatenate([a["is_slack"], jnp.ones(nb - n, bool)])
    return out


def build_problem(a: dict[str, Any]) -> tuple[powerflow.PFProblem, ybus.BranchAdmittance]:
    """``PFProblem`` and branch admittances from :func:`problem_arrays` output (traceable)."""
    br = ybus.branch_admittance(a["r"], a["x"], a["g"], a["b"], a["g_asym"], a["b_asym"],
                                a["tap"], a["shift"], a["status"])
    n = a["p_spec"].shape[0]
    shunt = a["shunt_g"] + 1j * a["shunt_b"]
    y = ybus.make_ybus(n, a["f"], a["t"], br, shunt)
    prob = powerflow.PFProblem(ymat=powerflow.ybus_to_real(y), p_spec=a["p_spec"],
                               q_spec=a["q_spec"], vm_set=a["vm_set"], va_slack=a["va_slack"],
                               is_slack=a["is_slack"], is_pv=a["is_pv"])
    return prob, br


def dc_angles(a: dict[str, Any]) -> tuple[jax.Array, jax.Array]:
    """DC power flow on :func:`problem_arrays` output: ``(va rad, p_from pu)``."""
    bdc = ybus.dc_susceptance(a["x"], a["tap"], a["status"])
    return powerflow.solve_dc(bdc, a["f"], a["t"], a["shift"], a["p_spec"] - a["shunt_g"],
                              a["is_slack"], a["va_slack"])


@partial(jax.jit, static_argnames=("max_iter",))
def _ac(a: dict[str, Any], max_iter: int, tol: float):
    prob, br = build_problem(a)
    va0, _ = dc_angles(a)
    res = powerflow.solve_ac(prob, powerflow.initial_point(prob, va0), None,
                             max_newton=max_iter, tol=tol)
    v = res.vm * jnp.exp(1j * res.va)
    sf, st = ybus.branch_flows(v, a["f"], a["t"], br)
    return res, sf, st


@jax.jit
def _dc(a: dict[str, Any]):
    return dc_angles(a)


def _branch_results(network: Network, vm: np.ndarray, sf: np.ndarray, st: np.ndarray) -> dict:
    sn = network.sn_mva
    f, t = network.br_from, network.br_to
    kv = network.bus_vn_kv
    with np.errstate(divide="ignore", invalid="ignore"):
        i_f = np.abs(sf) * sn / (vm[f] * kv[f] * math.sqrt(3))
        i_t = np.abs(st) * sn / (vm[t] * kv[t] * math.sqrt(3))
    i_f, i_t = np.nan_to_num(i_f), np.nan_to_num(i_t)
    line = ~network.br_is_trafo
    trafo = network.br_is_trafo
    with np.errstate(divide="ignore", invalid="ignore"):
        line_loading = np.maximum(i_f[line], i_t[line]) / network.line_imax_ka * 100
        vn = network.trafo_vn_kv
        trafo_loading = np.maximum(i_f[trafo] * vn[:, 0], i_t[trafo] * vn[:, 1]) * math.sqrt(3) \
            / network.trafo_sn_mva * 100
    return dict(
        line_p_from_mw=sf.real[line] * sn, line_q_from_mvar=sf.imag[line] * sn,
        line_loading_percent=line_loading,
        trafo_p_hv_mw=sf.real[trafo] * sn, trafo_q_hv_mvar=sf.imag[trafo] * sn,
        trafo_loading_percent=trafo_loading,
    )


def _as_network(net_or_network: Any, trafo_model: str) -> Network:
    if isinstance(net_or_network, Network):
        return net_or_network
    return from_pandapower(net_or_network, trafo_model=trafo_model)


def runpp(net: Any, *, trafo_model: str = "t", max_iteration: int = 20,
          tolerance_mva: float = 1e-8) -> dict[str, Any]:
    """AC power flow (Newton-Raphson, DC-initialised angles) of a pandapower net or ``Network``.

    ``tolerance_mva`` is the largest remaining bus power mismatch in MVA. Returns the mapping in
    this module's docstring; results are NaN-free only when ``converged`` is True.
    """
    network = _as_network(net, trafo_model)
    with jax.enable_x64(True):
        a = problem_arrays(network, jnp.float64, pad=True)
        res, sf, st = _ac(a, max_iteration, tolerance_mva / network.sn_mva)
        n, m = network.n_bus, network.n_branch
        vm, va = np.asarray(res.vm)[:n], np.asarray(res.va)[:n]
        sf, st = np.asarray(sf)[:m], np.asarray(st)[:m]
        out = dict(vm_pu=network.per_net_bus(vm), va_degree=np.rad2deg(network.per_net_bus(va)),
                   converged=bool(res.converged), iterations=int(res.iterations))
    out.update(_branch_results(network, vm, sf, st))
    return out


def rundcpp(net: Any, *, trafo_model: str = "t") -> dict[str, Any]:
    """DC power flow of a pandapower net or ``Network`` (same keys as :func:`runpp`).

    Voltage magnitudes are the set points (1.0 pu at PQ buses) and reactive flows are zero, as in
    pandapower; currents and loadings use those magnitudes.
    """
    network = _as_network(net, trafo_model)
    with jax.enable_x64(True):
        a = problem_arrays(network, jnp.float64, pad=True)
        va, pf = _dc(a)
        va, pf = np.asarray(va)[:network.n_bus], np.asarray(pf)[:network.n_branch]
    vm = network.vm_setpoint()
    out = dict(vm_pu=network.per_net_bus(vm), va_degree=np.rad2deg(network.per_net_bus(va)),
               converged=bool(np.all(np.isfinite(va))), iterations=1)
    out.update(_branch_results(network, vm, pf.astype(np.complex128), -pf.astype(np.complex128)))
    return out
