"""Steady wind farm flow: turbines swept upstream to downstream in one compiled ``lax.scan``.

For one inflow condition (direction, speed, turbulence intensity) the layout is rotated so the
wind blows towards +x (meteorological direction, 270 deg = from the west, rotation about the
centre of the layout's bounding box), turbines are sorted by downstream position, and a
``lax.scan`` visits them in that order. Each turbine sees the free stream (power-law shear
``U (z / z_hub)^shear``) minus the sum-of-squares of the deficits of the turbines already
visited, sampled on a 3x3 grid of rotor points spanning half the rotor diameter; its
rotor-average (cubic-mean) velocity sets its thrust coefficient, and its wake is added to every
downstream rotor point. The turbulence intensity at each rotor point is the largest of
``sqrt(TI0^2 + TI+^2)`` over the upstream turbines whose wake overlaps that rotor, with
``TI+`` from Crespo-Hernandez (within 15 D downstream and 2 D laterally), as in FLORIS 4's
``sequential_solver``.

``solve_condition`` is the single-condition kernel; :func:`farm_power` vmaps it over conditions.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct
from twingym.envs.wind_farm import turbine as tb
from twingym.envs.wind_farm import wake as wk

GRID_POINTS = 3                 # rotor points per side (3x3 grid)
WAKE_TI_LENGTH = 15.0           # D; added turbulence counts this far downstream
WAKE_TI_WIDTH = 2.0             # D; ... and this far sideways
WAKE_TI_OVERLAP_DEFICIT = 0.05  # m/s; a rotor point is "in the wake" above this deficit


@struct.dataclass
class FarmModel:
    """Everything the steady flow model needs besides layout and inflow.

    Attributes:
        turbine: turbine type (all turbines alike).
        wake: wake-model constants.
        air_density: kg/m^3 (power scales as ``(rho/rho_ref)``).
        wind_shear: power-law shear exponent (dimensionless).
    """

    turbine: tb.TurbineModel
    wake: wk.WakeParams = wk.WakeParams()
    air_density: float = 1.225
    wind_shear: float = 0.12


@functools.lru_cache(maxsize=8)
def default_model(turbine: str = "nrel_5MW_rosco") -> FarmModel:
    """The FLORIS-default farm model (gauss/gauss/crespo_hernandez/sosfs, shear 0.12)."""
    return FarmModel(turbine=tb.turbine_model(turbine))


def rotate_to_wind(x: jax.Array, y: jax.Array, wind_direction: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Rotate layout coordinates (m) into the frame where the wind blows towards +x.

    ``wind_direction`` is meteorological (deg, where the wind comes from; 270 = west). The
    rotation is about the centre of the layout's bounding box.
    """
    theta = jnp.deg2rad(jnp.mod(wind_direction - 270.0, 360.0))
    xc = 0.5 * (jnp.min(x) + jnp.max(x))
    yc = 0.5 * (jnp.min(y) + jnp.max(y))
    c, s = jnp.cos(theta), jnp.sin(theta)
    return (x - xc) * c - (y - yc) * s + xc, (x - xc) * s + (y - yc) * c + yc


def rotor_offsets(diameter: jax.Array) -> jax.Array:
    """Lateral (= vertical) offsets of the rotor grid lines, (GRID_POINTS,) m: +-D/4 and 0."""
    return jnp.linspace(-0.25, 0.25, GRID_POINTS) * diameter


def free_stream_rotor_velocity(model: FarmModel, wind_speed: jax.Array) -> jax.Array:
    """Cubic-mean rotor velocity (m/s) of an unwaked rotor in the sheared free stream."""
    dz = jnp.tile(rotor_offsets(model.turbine.rotor_diameter), GRID_POINTS)
    H = model.turbine.hub_height
    u0 = jnp.asarray(wind_speed)[..., None] * ((H + dz) / H) ** model.wind_shear
    return tb.cubic_mean(u0)


def _row_mean(a: jax.Array) -> jax.Array:
    """Mean over the (short) last axis as a chain of adds, keeping the axis; XLA's CPU reduction
    kernels are slow on rows of 9."""
    total = a[..., 0:1]
    for p in range(1, a.shape[-1]):
        total = total + a[..., p:p + 1]
    return total / a.shape[-1]


class Solution(struct.PyTreeNode):
    """Output of :func:`solve_condition` for one condition (n turbines, P = 9 rotor points)."""

    power: jax.Array          # (n,) W
    rotor_velocity: jax.Array  # (n,) m/s, cubic-mean rotor velocity
    point_velocity: jax.Array  # (n, P) m/s
    point_ti: jax.Array        # (n, P) turbulence intensity at the rotor points
    thrust_coefficient: jax.Array  # (n,) yawed Ct of each turbine's own (current-yaw) rotor


def solve_condition(model: FarmModel, x: jax.Array, y: jax.Array, wind_direction: jax.Array,
                    wind_speed: jax.Array, turbulence_intensity: jax.Array, yaw: jax.Array,
                    wake_yaw: jax.Array | None = None, unroll: int | bool = 1) -> Solution:
    """Steady flow at the rotors for one inflow condition.

    Args:
        model: :class:`FarmModel`.
        x, y: (n,) turbine coordinates, m (x east, y north).
        wind_direction: scalar, deg (meteorological).
        wind_speed: scalar, m/s at hub height.
        turbulence_intensity: scalar ambient TI (fraction).
        yaw: (n,) yaw misalignment of each turbine, deg (FLORIS v4 sign), used for its power.
        wake_yaw: optional (n_source, n_target) yaw (deg) that source turbine's wake has when it
            reaches each target (wake advection delay); defaults to ``yaw`` for every target.
        unroll: ``lax.scan`` unrolling (``True`` compiles the sweep as straight-line code: faster
            for small farms, longer to compile).
    """
    n = x.shape[0]
    D = model.turbine.rotor_diameter
    H = model.turbine.hub_height
    # (n_source, n_target) or (n_source, 1): one yaw per source unless the wake is delayed
    wake_yaw = yaw[:, None] if wake_yaw is None else wake_yaw

    xr, yr = rotate_to_wind(x, y, wind_direction)
    # visit turbines upstream to downstream: work in sorted order, undo the sort at the end
    order = jnp.argsort(xr)
    xs, ys = xr[order], yr[order]
    wake_yaw_s = wake_yaw[order] if wake_yaw.shape[1] == 1 else wake_yaw[order][:, order]
    g = rotor_offsets(D)
    dy_grid = jnp.repeat(g, GRID_POINTS)             # (P,) lateral offset of point (a, b)
    dz_grid = jnp.tile(g, GRID_POINTS)               # (P,) vertical offset of point (a, b)
    py = ys[:, None] + dy_grid[None, :]              # (n, P)
    u0 = wind_speed * ((H + dz_grid) / H) ** model.wind_shear  # (P,) free stream
    ambient = turbulence_intensity

    def visit(carry, source):
        sq, ti = carry                               # (n, P) sum of squared deficits, TI
        k, x_i, y_i, yaw_row = source
        u_i = u0 - wk.safe_sqrt(sq[k])
        v_i = tb.cubic_mean(u_i)
        yaw_t = yaw_row[:, None]                     # (n or 1, 1) yaw of the wake at the targets
        ct = tb.thrust_coefficient(model.turbine, v_i, yaw_t)
        a = tb.axial_induction(ct, yaw_t)
        ti_i = ti[k][None, :]                        # (1, P) TI at the source's rotor points
        dx = (xs - x_i)[:, None]                     # (n, 1)
        src = wk.wake_source(model.wake, yaw_t, ct, ti_i, D)
        frac = wk.deficit_at(src, dx, py - y_i - wk.deflection_at(src, dx), dz_grid[None, :])
        du = frac * u0[None, :]                      # (n, P) m/s
        sq = sq + du**2
        overlap = _row_mean((du > WAKE_TI_OVERLAP_DEFICIT).astype(du.dtype))  # (n, 1)
        added = overlap * wk.added_turbulence(model.wake, dx, a, ambient, D)      # (n, 1)
        inside = (jnp.abs(py - y_i) < WAKE_TI_WIDTH * D) & (dx <= WAKE_TI_LENGTH * D) & (added > 0)
        ti = jnp.maximum(jnp.where(inside, jnp.sqrt(added**2 + ambient**2), ambient), ti)
        return (sq, ti), None

    init = (jnp.zeros_like(py), jnp.full_like(py, ambient))
    (sq, ti), _ = jax.lax.scan(visit, init, (jnp.arange(n), xs, ys, wake_yaw_s), unroll=unroll)
    inverse = jnp.argsort(order)
    sq, ti = sq[inverse], ti[inverse]
    u = u0[None, :] - wk.safe_sqrt(sq)
    v = tb.cubic_mean(u)
    return Solution(power=tb.power(model.turbine, v, yaw, model.air_density), rotor_velocity=v,
                    point_velocity=u, point_ti=ti,
                    thrust_coefficient=tb.thrust_coefficient(model.turbine, v, yaw))


@functools.partial(jax.jit, static_argnames="unroll")
def _farm_power(model, x, y, wd, ws, ti, yaw, unroll=1):
    solve = jax.vmap(lambda d, s, t, g: solve_condition(model, x, y, d, s, t, g, unroll=unroll).power)
    return solve(wd, ws, ti, yaw)


def farm_power(layout_x, layout_y, wind_directions, wind_speeds, turbulence_intensities,
               yaw_angles=None, *, model: FarmModel | None = None) -> jax.Array:
    """Power of every turbine, W, shape ``(n_conditions, n_turbines)``.

    Agrees with FLORIS 4 configured with the ``gauss`` velocity and deflection models, ``sosfs``
    combination, ``crespo_hernandez`` turbulence, secondary steering, yaw-added recovery and
    transverse velocities off, a 3x3 rotor grid and shear 0.12. Jittable and differentiable
    (e.g. ``jax.grad`` of the summed power with respect to ``yaw_angles``).

    Args:
        layout_x, layout_y: (n_turbines,) coordinates, m (x east, y north).
        wind_directions: (n_conditions,) or scalar, deg, meteorological (270 = from the west).
        wind_speeds: (n_conditions,) or scalar, hub-height free-stream speed, m/s.
        turbulence_intensities: (n_conditions,) or scalar ambient TI (fraction, e.g. 0.06).
        yaw_angles: (n_conditions, n_turbines) or (n_turbines,), deg, FLORIS v4 sign (positive =
            rotor turned counterclockwise seen from above, wake pushed to the right looking
            downwind); ``None`` means all zero.
        model: turbine and wake constants; when ``None``, FLORIS's default wake model with
            twingym's default turbine ``nrel_5MW_rosco`` (the NREL 5-MW derived from its ROSCO
            files, not FLORIS's ``nrel_5MW`` table: up to 3.4 % less power below rated).
    """
    model = default_model() if model is None else model
    x = jnp.asarray(layout_x, dtype=jnp.float32).reshape(-1)
    y = jnp.asarray(layout_y, dtype=jnp.float32).reshape(-1)
    wd, ws, ti = (jnp.atleast_1d(jnp.asarray(v, dtype=jnp.float32))
                  for v in (wind_directions, wind_speeds, turbulence_intensities))
    n_cond = max(wd.shape[0], ws.shape[0], ti.shape[0])
    if yaw_angles is not None:
        yaw = jnp.asarray(yaw_angles, dtype=jnp.float32)
        n_cond = max(n_cond, yaw.shape[0] if yaw.ndim == 2 else 1)
    wd, ws, ti = (jnp.broadcast_to(v, (n_cond,)) for v in (wd, ws, ti))
    yaw = (jnp.zeros((n_cond, x.shape[0]), jnp.float32) if yaw_angles is None
           else jnp.broadcast_to(yaw, (n_cond, x.shape[0])))
    return _farm_power(model, x, y, wd, ws, ti, yaw)


def flow_at_points(model: FarmModel, x: jax.Array, y: jax.Array, wind_direction: jax.Array,
                   wind_speed: jax.Array, turbulence_intensity: jax.Array, yaw: jax.Array,
                   px: jax.Array, py: jax.Array, pz: jax.Array) -> jax.Array:
    """Streamwise velocity (m/s) at arbitrary points ``(px, py, pz)`` (m, same frame as x, y).

    The turbine states (thrust, turbulence) come from :func:`solve_condition`; each turbine's
    wake uses the rotor-averaged turbulence intensity at that turbine. For pictures only.
    """
    sol = solve_condition(model, x, y, wind_direction, wind_speed, turbulence_intensity, yaw)
    D = model.turbine.rotor_diameter
    H = model.turbine.hub_height
    xr, yr = rotate_to_wind(x, y, wind_direction)
    # rotate the points with the same centre as the turbines
    theta = jnp.deg2rad(jnp.mod(wind_direction - 270.0, 360.0))
    xc, yc = 0.5 * (jnp.min(x) + jnp.max(x)), 0.5 * (jnp.min(y) + jnp.max(y))
    c, s = jnp.cos(theta), jnp.sin(theta)
    qx = (px - xc) * c - (py - yc) * s + xc
    qy = (px - xc) * s + (py - yc) * c + yc
    u0 = wind_speed * (jnp.maximum(pz, 1.0) / H) ** model.wind_shear
    ti_turb = jnp.mean(sol.point_ti, axis=1)

    def add(sq, i):
        dx = qx - xr[i]
        ct = tb.thrust_coefficient(model.turbine, sol.rotor_velocity[i], yaw[i])
        delta = wk.deflection(model.wake, dx, yaw[i], ct, ti_turb[i], D)
        frac = wk.velocity_deficit(model.wake, dx, qy - yr[i] - delta, pz - H, yaw[i], ct, ti_turb[i], D)
        return sq + (frac * u0) ** 2, None

    sq, _ = jax.lax.scan(add, jnp.zeros_like(qx), jnp.arange(x.shape[0]))
    return u0 - wk.safe_sqrt(sq)
