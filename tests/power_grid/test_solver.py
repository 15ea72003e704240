"""Solver building blocks: the gathered while loop and the low-rank topology change of the
shared chord factorisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from twingym.envs.power_grid import env as grid_env
from twingym.envs.power_grid import powerflow, ybus
from twingym.envs.power_grid.compact import compacted_while


@pytest.mark.parametrize("buffer", [1, 2, 16])
def test_compacted_while_under_vmap_equals_each_copy_alone(buffer):
    """Halve until below a copy's own threshold: batched with buffers smaller than the number
    of copies that need the loop, every copy gets exactly its own iterations and result."""
    def cond(limit, c):
        return c[0] > limit

    def body(limit, c):
        return c[0] * 0.5 + 0.01 * limit, c[1] + 1

    starts = jnp.array([0.5, 3.0, 100.0, 7.0, 0.1, 1e4, 2.0])
    limits = jnp.array([1.0, 1.0, 2.0, 0.5, 1.0, 1.0, 3.0])
    batched = jax.jit(jax.vmap(lambda s, lim: compacted_while(cond, body, lim, (s, jnp.int32(0)),
                                                              buffer)))(starts, limits)
    for i in range(len(starts)):
        alone = jax.lax.while_loop(lambda c, i=i: cond(limits[i], c),
                                   lambda c, i=i: body(limits[i], c), (starts[i], jnp.int32(0)))
        assert float(batched[0][i]) == float(alone[0])
        assert int(batched[1][i]) == int(alone[1])
    assert int(batched[1][0]) == 0 and int(batched[1][5]) > 10


@pytest.fixture(scope="module")
def case14():
    env = grid_env.PowerGrid()
    return env.make_params()


def _jacobian(params, status):
    n = params.load_p.shape[0]
    br = ybus.branch_admittance(params.br_r, params.br_x, params.br_g, params.br_b,
                                params.br_g_asym, params.br_b_asym, params.br_tap,
                                params.br_shift, status)
    y = ybus.make_ybus(n, params.br_f, params.br_t, br, params.shunt_g + 1j * params.shunt_b)
    reach = grid_env._reachable(params, status)
    fixed = params.is_slack | ~reach
    prob = powerflow.PFProblem(ymat=powerflow.ybus_to_real(y), p_spec=jnp.zeros(n),
                               q_spec=jnp.zeros(n), vm_set=params.vm_set,
                               va_slack=params.va_slack, is_slack=fixed,
                               is_pv=params.is_pv & reach)
    active = jnp.concatenate([~fixed, ~(fixed | params.is_pv)])
    return powerflow.jacobian(params.x_ref, prob), active, reach


@pytest.mark.parametrize("outages", [(3,), (7, 12), (18,)])
def test_topology_change_equals_the_refactorised_jacobian(case14, outages):
    """The base-topology inverse with the low-rank change gives the chord direction of the
    Jacobian rebuilt for the new topology, including a trip that cuts off a bus (branch 18
    feeds the synchronous condenser at bus 7 alone, which becomes a fixed bus)."""
    params = case14
    status = params.br_status0.at[jnp.array(outages)].set(0.0)
    jac, active, reach = _jacobian(params, status)
    change = grid_env._topology_change(params, status, reach, params.br_r, params.br_x)
    f = jnp.where(active, jax.random.normal(jax.random.key(0), active.shape), 0.0)
    expected = np.linalg.solve(np.asarray(jac, np.float64), np.asarray(f, np.float64))
    ours = np.asarray(powerflow.chord_direction(params.jinv, f, change))
    stale = np.asarray(powerflow.chord_direction(params.jinv, f))
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(ours - expected)) < 1e-4 * scale
    assert np.max(np.abs(stale - expected)) > 1e-2 * scale     # the change matters
