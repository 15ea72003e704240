"""``farm_power`` is differentiable: yaw gradients agree with finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.wind_farm import farm_power, grid_layout


def test_yaw_gradient_matches_finite_differences():
    x, y = grid_layout(3, 3, 5.0)
    wd = jnp.array([270.0, 276.0, 262.0])
    ws = jnp.array([8.0, 10.0, 6.0])
    ti = jnp.array([0.06, 0.08, 0.05])
    yaw = jnp.asarray(np.random.default_rng(1).uniform(-20, 20, (3, 9)), jnp.float32)

    def total_mw(g):
        return farm_power(x, y, wd, ws, ti, g).sum() / 1e6

    grad = np.asarray(jax.jit(jax.grad(total_mw))(yaw))
    f = jax.jit(total_mw)
    h = 0.05
    fd = np.zeros_like(grad)
    for c in range(3):
        for t in range(9):
            e = np.zeros((3, 9), np.float32)
            e[c, t] = h
            fd[c, t] = (float(f(yaw + e)) - float(f(yaw - e))) / (2 * h)
    assert np.all(np.isfinite(grad))
    assert np.abs(grad).max() > 1e-3  # yaw does move power
    np.testing.assert_allclose(grad, fd, atol=2e-3 * np.abs(fd).max() + 2e-5)


def test_gradient_finite_at_zero_yaw_and_aligned_wind():
    x, y = grid_layout(3, 3, 5.0)

    def total(yaw, wd):
        return farm_power(x, y, wd, 8.0, 0.06, yaw).sum()

    g_yaw, g_wd = jax.grad(total, argnums=(0, 1))(jnp.zeros((1, 9)), jnp.array([270.0]))
    assert np.all(np.isfinite(np.asarray(g_yaw))) and np.all(np.isfinite(np.asarray(g_wd)))
