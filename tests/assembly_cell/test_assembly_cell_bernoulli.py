"""Bernoulli-line parity of the assembly cell twin against Li & Meerkov's analytic results, and
exact conservation of parts.

References (numpy, float64, independent of the twin's JAX code): the closed-form two-machine
throughput, the recursive aggregation for longer lines, and the exact Markov chain of buffer
levels for short lines.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import twingym.envs as twin_envs
from twingym.envs.assembly_cell import (
    aggregation,
    bernoulli_line,
    markov_throughput,
    nominal_action,
    two_machine_throughput,
)
from twingym.envs.assembly_cell.bernoulli import bernoulli_params, q_empty

BATCH, STEPS, WARMUP = 256, 2000, 100


@partial(jax.jit, static_argnums=(0,))
def _simulated_throughput(env, params_batch, key):
    """Long-run parts/cycle of each param set (leading axis K): BATCH copies x STEPS cycles."""

    def one(params, key):
        m = params.num_stations
        action = nominal_action(m)
        k_reset, k_run = jax.random.split(key)
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, BATCH), params)
        step = jax.vmap(env.step, (0, 0, None, None))

        def body(state, k):
            _, state, _, _, _, info = step(jax.random.split(k, BATCH), state, action, params)
            return state, jnp.sum(info["parts_out"])

        _, outs = jax.lax.scan(body, state, jax.random.split(k_run, STEPS))
        return jnp.sum(outs[WARMUP:]) / (BATCH * (STEPS - WARMUP))

    keys = jax.random.split(key, jax.tree.leaves(params_batch)[0].shape[0])
    return jax.vmap(one)(params_batch, keys)


def _simulate(cases):
    """Simulated throughput of each ``(p, buffers)`` case (all of one line length)."""
    env, _ = bernoulli_line(*cases[0])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[bernoulli_params(p, n) for p, n in cases])
    return np.asarray(_simulated_throughput(env, stacked, jax.random.PRNGKey(7)))


TWO_MACHINE = [((0.9, 0.8), (2,)), ((0.7, 0.9), (1,)), ((0.85, 0.85), (3,)), ((0.6, 0.95), (5,)),
               ((0.95, 0.6), (4,)), ((0.8, 0.8), (1,)), ((0.55, 0.7), (2,))]
THREE_MACHINE = [((0.9, 0.8, 0.85), (2, 3)), ((0.7, 0.9, 0.8), (1, 2)), ((0.85, 0.85, 0.85), (3, 3)),
                 ((0.95, 0.6, 0.9), (4, 1))]
FIVE_MACHINE = [((0.8, 0.8, 0.8, 0.8, 0.8), (2, 2, 2, 2)), ((0.9, 0.85, 0.88, 0.84, 0.9), (3, 3, 3, 3)),
                ((0.7, 0.95, 0.8, 0.9, 0.75), (1, 2, 5, 3)), ((0.95, 0.9, 0.6, 0.9, 0.95), (4, 4, 2, 2))]


@pytest.mark.parametrize("p1,p2,n", [(0.9, 0.8, 2), (0.7, 0.9, 1), (0.85, 0.85, 3), (0.6, 0.95, 5),
                                     (0.95, 0.6, 4), (0.5, 0.5000001, 2), (0.3, 0.99, 1)])
def test_two_machine_formula_matches_markov_chain(p1, p2, n):
    """The closed form (including the p1 == p2 branch) equals the exact chain, and PR is symmetric."""
    exact = markov_throughput([p1, p2], [n])
    assert two_machine_throughput(p1, p2, n) == pytest.approx(exact, rel=1e-7)
    assert p1 * (1.0 - q_empty(p2, p1, n)) == pytest.approx(exact, rel=1e-7)


def test_aggregation_close_to_exact_chain_for_short_lines():
    for p, n in [*THREE_MACHINE, ((0.7, 0.8, 0.9, 0.75), (3, 2, 4)), ((0.9, 0.9, 0.9, 0.9), (1, 1, 1))]:
        approx, pf, pb = aggregation(p, n)
        assert pf[-1] == pytest.approx(pb[0], rel=1e-9)      # converged: forward == backward
        assert approx == pytest.approx(markov_throughput(p, n), rel=0.01)


def test_two_machine_simulation_matches_exact_formula_within_1pct():
    sim = _simulate(TWO_MACHINE)
    exact = np.array([two_machine_throughput(p[0], p[1], n[0]) for p, n in TWO_MACHINE])
    np.testing.assert_allclose(sim, exact, rtol=0.01)
    # the test can tell buffer conventions apart: counting a machine-held part (capacity N + 1)
    # would move the small-buffer lines by 4-9 %, far outside the tolerance
    shifted = np.array([two_machine_throughput(p[0], p[1], n[0] + 1) for p, n in TWO_MACHINE])
    telling = np.abs(shifted - exact) / exact > 0.04
    assert telling.sum() >= 3
    assert np.all(np.abs(sim - shifted)[telling] / shifted[telling] > 0.03)


def test_three_machine_simulation_matches_exact_chain_and_aggregation():
    sim = _simulate(THREE_MACHINE)
    exact = np.array([markov_throughput(p, n) for p, n in THREE_MACHINE])
    approx = np.array([aggregation(p, n)[0] for p, n in THREE_MACHINE])
    np.testing.assert_allclose(sim, exact, rtol=0.01)
    np.testing.assert_allclose(sim, approx, rtol=0.03)


def test_five_machine_simulation_matches_aggregation_within_3pct():
    sim = _simulate(FIVE_MACHINE)
    approx = np.array([aggregation(p, n)[0] for p, n in FIVE_MACHINE])
    np.testing.assert_allclose(sim, approx, rtol=0.03)


def test_bernoulli_line_rejects_bad_input():
    with pytest.raises(ValueError):
        bernoulli_line([0.9, 1.0], [2])
    with pytest.raises(ValueError):
        bernoulli_line([0.9, 0.8], [0])
    with pytest.raises(ValueError):
        bernoulli_line([0.9, 0.8, 0.7], [2])


@partial(jax.jit, static_argnums=(0, 2))
def _random_rollout_counters(env, params, steps, key):
    m = params.num_stations
    k_reset, k_run = jax.random.split(key)
    _, state = env.reset(k_reset, params)

    def body(state, k):
        k_a, k_m, k_s = jax.random.split(k, 3)
        speed = jax.random.randint(k_a, (m,), 0, 4)
        maintain = jax.random.uniform(k_m, (m,)) < 0.03    # random speeds, occasional maintenance
        action = jnp.stack([speed, maintain.astype(jnp.int32)], axis=1).reshape(-1)
        _, new, _, _, _, info = env.step(k_s, state, action, params)
        return new, (new.parts_in, new.parts_out, jnp.sum(new.buffers), new.buffers, new.time,
                     info["parts_in"], info["parts_out"], info["wip"])

    _, out = jax.lax.scan(body, state, jax.random.split(k_run, steps))
    return state, out


@pytest.mark.parametrize("which", ["bernoulli", "default"])
def test_conservation_every_step(which):
    """parts in == parts out + WIP exactly (int32) after every step, across failures, maintenance,
    random speeds and auto-resets; per-step flows agree with the change in WIP."""
    env, params = twin_envs.make("AssemblyCell-v0", max_steps=150)
    if which == "bernoulli":      # same shapes as the default cell: one compilation for both cases
        params = bernoulli_params([0.9, 0.7, 0.95, 0.8, 0.85], [1, 3, 2, 1], max_steps=150)
    state0, (pin, pout, wip, buffers, time, step_in, step_out, info_wip) = _random_rollout_counters(
        env, params, 1000, jax.random.PRNGKey(3))
    pin, pout, wip, time = map(np.asarray, (pin, pout, wip, time))
    assert pin.dtype == np.int32 and pout.dtype == np.int32
    np.testing.assert_array_equal(pin, pout + wip)
    np.testing.assert_array_equal(np.asarray(info_wip)[time != 0], wip[time != 0])
    assert int(state0.parts_in) == int(jnp.sum(state0.buffers)) and int(state0.parts_out) == 0
    cap = np.asarray(params.buffer_capacity)
    assert np.all(np.asarray(buffers) >= 0) and np.all(np.asarray(buffers) <= cap)
    # inside an episode, WIP changes by exactly (released - finished) each step
    cont = time[1:] != 0
    dwip = np.diff(wip)[cont]
    np.testing.assert_array_equal(dwip, (np.asarray(step_in) - np.asarray(step_out))[1:][cont])
    assert (time == 0).sum() >= 5                 # auto-resets happened
    assert pout.max() > 20                        # parts actually flowed
