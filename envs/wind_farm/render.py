"""Top view of the farm: hub-height wind speed with rotors drawn at their yaw (host side).

``render_state(state, params)`` evaluates the wake model on a grid of hub-height points around
the layout (the true wind and yaw of the state, wakes without advection delay) and draws it with
matplotlib (Agg): colour = streamwise wind speed (m/s), black bars = rotors (width D, turned to
their nacelle heading), arrow = where the wind blows to, title = time, wind and farm power.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.wind_farm.farm import flow_at_points

GRID = (120, 180)   # points (y, x)
MARGIN_D = 3.0      # diameters of margin around the layout


@functools.partial(jax.jit, static_argnames=("shape",))
def _field(model, x, y, wd, ws, ti, yaw, px, py, shape):
    pz = jnp.full_like(px, model.turbine.hub_height)
    return flow_at_points(model, x, y, wd, ws, ti, yaw, px, py, pz).reshape(shape)


def hub_height_field(state, params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, Y, U)``: grid coordinates (m) and hub-height wind speed (m/s), shape ``GRID``."""
    x = np.asarray(params.layout_x, np.float64)
    y = np.asarray(params.layout_y, np.float64)
    d = float(params.model.turbine.rotor_diameter)
    pad = MARGIN_D * d
    gx = np.linspace(x.min() - pad, x.max() + pad, GRID[1])
    gy = np.linspace(y.min() - pad, y.max() + pad, GRID[0])
    X, Y = np.meshgrid(gx, gy)
    gamma = np.clip(np.asarray(state.yaw_hist[0]), -80.0, 80.0)
    U = _field(params.model, params.layout_x, params.layout_y, state.wind_direction,
               state.wind_speed, state.ti, jnp.asarray(gamma, jnp.float32),
               jnp.asarray(X.ravel(), jnp.float32), jnp.asarray(Y.ravel(), jnp.float32), GRID)
    return X, Y, np.asarray(U)


def render_state(state, params) -> np.ndarray:
    """RGB image ``(H, W, 3)`` uint8 of one (unbatched) state."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, Y, U = hub_height_field(state, params)
    ws = float(state.wind_speed)
    wd = float(state.wind_direction)
    d = float(params.model.turbine.rotor_diameter)
    fig, ax = plt.subplots(figsize=(7.2, 5.0), dpi=100)
    mesh = ax.pcolormesh(X, Y, U, cmap="viridis", shading="auto", vmin=0.3 * ws, vmax=1.05 * ws)
    fig.colorbar(mesh, ax=ax, label="hub-height wind speed (m/s)")
    # rotors: a bar of length D perpendicular to the nacelle axis; the nacelle points to its heading
    for xi, yi, hdg in zip(np.asarray(params.layout_x), np.asarray(params.layout_y),
                           np.asarray(state.heading), strict=True):
        # compass heading -> math angle of the upwind-pointing nacelle axis
        ang = np.deg2rad(90.0 - hdg)
        ax_dir = np.array([np.cos(ang), np.sin(ang)])
        perp = np.array([-ax_dir[1], ax_dir[0]])
        p0, p1 = np.array([xi, yi]) + 0.5 * d * perp, np.array([xi, yi]) - 0.5 * d * perp
        ax.plot([p0[0], p1[0]], [p0[1], p1[1]], color="k", lw=2.5)
        ax.plot([xi, xi + 0.25 * d * ax_dir[0]], [yi, yi + 0.25 * d * ax_dir[1]], color="k", lw=1.5)
    # wind arrow: blows towards wd + 180
    to = np.deg2rad(90.0 - (wd + 180.0))
    x0, y0 = X.min() + 0.6 * d, Y.max() - 0.6 * d
    ax.annotate("", xy=(x0 + 1.2 * d * np.cos(to), y0 + 1.2 * d * np.sin(to)), xytext=(x0, y0),
                arrowprops={"arrowstyle": "->", "color": "white", "lw": 2})
    power = float(np.sum(np.asarray(state.power))) / 1e6
    ax.set_title(f"t = {int(state.time) * float(params.dt) / 60:.1f} min   wind {ws:.1f} m/s from "
                 f"{wd:.0f} deg   TI {float(state.ti):.2f}   farm {power:.1f} MW", fontsize=9)
    ax.set_xlabel("x east (m)")
    ax.set_ylabel("y north (m)")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img
