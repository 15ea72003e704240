"""Batched power flows: many operating points of one grid (chord-Newton with a shared
factorisation) and many grids of the same shape (vmapped Newton) in one call, against runpp."""

from __future__ import annotations

import copy
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
import pandapower.networks as pn  # noqa: E402
from twingym.envs.power_grid import from_pandapower, powerflow, runpp  # noqa: E402
from twingym.envs.power_grid.api import build_problem, dc_angles, problem_arrays  # noqa: E402


def _case14():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pn.case14()


def test_operating_points_in_one_call_match_single_runs():
    net = _case14()
    network = from_pandapower(net)
    scales = [0.8, 1.0, 1.25]
    load_p = np.zeros(network.n_bus)
    load_q = np.zeros(network.n_bus)
    np.add.at(load_p, network.load_bus, network.load_p_mw / network.sn_mva)
    np.add.at(load_q, network.load_bus, network.load_q_mvar / network.sn_mva)

    @jax.jit
    def solve_batch(a, p, q):
        prob, _ = build_problem(a)
        base = powerflow.solve_ac(prob, powerflow.initial_point(prob, dc_angles(a)[0]), None)
        x_ref = jnp.concatenate([base.va, base.vm])
        jinv = powerflow.reference_jacobian_inverse(prob, x_ref)   # factorised once, shared

        def one(pi, qi):
            return powerflow.solve_ac(prob._replace(p_spec=pi, q_spec=qi), x_ref, jinv, tol=1e-10)

        return jax.vmap(one)(p, q)

    with jax.enable_x64(True):
        a = problem_arrays(network, jnp.float64)
        p = jnp.stack([a["p_spec"] + load_p * (1 - s) for s in scales])
        q = jnp.stack([a["q_spec"] + load_q * (1 - s) for s in scales])
        res = solve_batch(a, p, q)
        assert bool(jnp.all(res.converged))
        vm, va = np.asarray(res.vm), np.rad2deg(np.asarray(res.va))
    for i, s in enumerate(scales):
        other = copy.deepcopy(net)
        other.load["scaling"] = s
        ref = runpp(other)
        np.testing.assert_allclose(vm[i], ref["vm_pu"], atol=1e-8)
        np.testing.assert_allclose(va[i], ref["va_degree"], atol=1e-6)


def test_grids_of_one_shape_in_one_call_match_single_runs():
    net = _case14()
    nets = []
    for factor in (0.9, 1.0, 1.2):
        other = copy.deepcopy(net)
        other.line["x_ohm_per_km"] *= factor
        nets.append(other)
    with jax.enable_x64(True):
        arrays = [problem_arrays(from_pandapower(n), jnp.float64) for n in nets]
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *arrays)

        def one(a):
            prob, _ = build_problem(a)
            x0 = powerflow.initial_point(prob, dc_angles(a)[0])
            return powerflow.solve_ac(prob, x0, None, tol=1e-10)

        res = jax.jit(jax.vmap(one))(stacked)
        assert bool(jnp.all(res.converged))
        vm = np.asarray(res.vm)
    for i, other in enumerate(nets):
        np.testing.assert_allclose(vm[i], runpp(other)["vm_pu"], atol=1e-8)
    assert np.max(np.abs(vm[0] - vm[2])) > 1e-4      # the grids really differ
