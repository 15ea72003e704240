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


def _scaled_points(network, scales):
    """(p, q) (k, n) pu specified injections with every load scaled by ``scales[i]`` (k, n_load)."""
    p0, q0 = network.bus_injection_mw()
    p = np.zeros((len(scales), network.n_bus))
    q = np.zeros((len(scales), network.n_bus))
    for i, s in enumerate(scales):
        p[i], q[i] = p0, q0
        np.add.at(p[i], network.load_bus, -network.load_p_mw * (s - 1))
        np.add.at(q[i], network.load_bus, -network.load_q_mvar * (s - 1))
    return p / network.sn_mva, q / network.sn_mva


@pytest.mark.parametrize("case", ["case300", "case1354pegase"])
def test_sparse_batch_flow_matches_pandapower(case):
    """The sparse (SuperLU) batched solver against runpp on scaled operating points, to 1e-8 pu
    (both stop at a per-unit mismatch below 1e-8), with the same converged/failed verdicts."""
    from twingym.envs.power_grid.batch import BatchFlow
    logging_off()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = getattr(pn, case)()
    network = from_pandapower(net)
    flow = BatchFlow(network, linear="sparse")
    scales = np.random.default_rng(5).uniform(0.8, 1.2, (3, len(network.load_bus)))
    res = flow.solve(*_scaled_points(network, scales))
    p0, q0 = net.load.p_mw.to_numpy().copy(), net.load.q_mvar.to_numpy().copy()
    for i, s in enumerate(scales):
        net.load["p_mw"], net.load["q_mvar"] = p0 * s, q0 * s
        pp.runpp(net)
        assert bool(res.converged[i])
        np.testing.assert_allclose(np.asarray(res.vm[i]), net.res_bus.vm_pu.values, atol=1e-8)
        np.testing.assert_allclose(np.rad2deg(np.asarray(res.va[i])), net.res_bus.va_degree.values,
                                   atol=1e-6)
        assert float(res.mismatch[i]) < 1e-8


def logging_off():
    import logging
    logging.getLogger("pandapower").setLevel(logging.ERROR)


def test_dense_and_sparse_back_ends_agree_and_batch_equals_single():
    """case118 (dense by default) and its sparse solve give the same voltages; a copy solved
    inside a batch (where only unconverged copies iterate) takes the same iterations and reaches
    the same point as the copy solved alone (to round-off: a batched matrix product sums in
    another order)."""
    from twingym.envs.power_grid.batch import BatchFlow
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = from_pandapower(pn.case118())
    scales = np.random.default_rng(2).uniform(0.7, 1.3, (6, len(network.load_bus)))
    p, q = _scaled_points(network, scales)
    dense, sparse_ = BatchFlow(network, linear="dense"), BatchFlow(network, linear="sparse")
    a, b = dense.solve(p, q), sparse_.solve(p, q)
    assert bool(np.all(np.asarray(a.converged))) and bool(np.all(np.asarray(b.converged)))
    np.testing.assert_allclose(np.asarray(a.vm), np.asarray(b.vm), atol=1e-9)
    single = dense.solve(p[3:4], q[3:4])
    np.testing.assert_allclose(np.asarray(single.vm)[0], np.asarray(a.vm)[3], atol=1e-12)
    np.testing.assert_array_equal(np.asarray(single.iterations)[0], np.asarray(a.iterations)[3])
