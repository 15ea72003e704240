"""Steady wind farm flow: turbines swept upstream to downstream, many conditions at once.

For one inflow condition (direction, speed, turbulence intensity) the layout is rotated so the
wind blows towards +x (meteorological direction, 270 deg = from the west, rotation about the
centre of the layout's bounding box), turbines are ranked by downstream position (``n^2``
comparisons, no sort), and the sweep visits them in that order. Each turbine sees the free stream (power-law shear
``U (z / z_hub)^shear``) minus the sum-of-squares of the deficits of the turbines already
visited, sampled on a 3x3 grid of rotor points spanning half the rotor diameter; its
rotor-average (cubic-mean) velocity sets its thrust coefficient, and its wake is added to every
downstream rotor point. The turbulence intensity at each rotor point is the largest of
``sqrt(TI0^2 + TI+^2)`` over the upstream turbines whose wake overlaps that rotor, with
``TI+`` from Crespo-Hernandez (within 15 D downstream and 2 D laterally), as in FLORIS 4's
``sequential_solver``.

:func:`solve_conditions` is the kernel: a batch of conditions with the batch axis last in memory
(vectorised along it), in tiles of ``BATCH_TILE`` for large batches. :func:`solve_condition` is
one condition, :func:`vmappable_solve_condition` the per-copy form whose ``jax.vmap`` runs the
batch kernel, and :func:`farm_power` the public entry point.
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
    rotation is about the centre of the layout's bounding box. ``x, y``: ``(n,)`` or ``(n, B)``
    (turbines first, then any batch axes that broadcast against ``wind_direction``).
    """
    theta = jnp.deg2rad(jnp.mod(wind_direction - 270.0, 360.0))
    xc = 0.5 * (jnp.min(x, axis=0) + jnp.max(x, axis=0))
    yc = 0.5 * (jnp.min(y, axis=0) + jnp.max(y, axis=0))
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


class Solution(struct.PyTreeNode):
    """Output of :func:`solve_condition` for one condition (n turbines, P = 9 rotor points);
    :func:`solve_conditions` adds a leading batch axis to every field."""

    power: jax.Array          # (n,) W
    rotor_velocity: jax.Array  # (n,) m/s, cubic-mean rotor velocity
    point_velocity: jax.Array  # (n, P) m/s
    point_ti: jax.Array        # (n, P) turbulence intensity at the rotor points
    thrust_coefficient: jax.Array  # (n,) yawed Ct of each turbine's own (current-yaw) rotor


#: farms up to this size compile the sweep as straight-line code visiting only the turbines
#: downstream of each source; larger farms loop (``lax.scan``) over every turbine per visit.
UNROLL_MAX_TURBINES = 16
#: larger batches of conditions are solved in tiles of this many (the sweep's working set, about
#: 3 KiB per condition for 9 turbines, then stays in the caches).
BATCH_TILE = 2048


def _sum_points(a: jax.Array) -> jax.Array:
    """Sum over the rotor-point axis (``-2`` in the batch-last layout), keeping it."""
    return jnp.sum(a, axis=-2, keepdims=True)


def _upstream_order(xr: jax.Array) -> jax.Array:
    """One-hot permutation ``(n, n, B)``: ``perm[k, i] = 1`` when turbine ``i`` is the ``k``-th
    from upstream (stable in the index, like a stable ``argsort`` of ``xr``). Built from
    ``n^2`` comparisons: no sort."""
    n = xr.shape[0]
    idx = jnp.arange(n)
    ahead = (xr[None, :] < xr[:, None]) | ((xr[None, :] == xr[:, None])
                                            & (idx[None, :, None] < idx[:, None, None]))
    rank = jnp.sum(ahead, axis=1)                                   # (n, B) rank of turbine i
    return (rank[None, :, :] == idx[:, None, None]).astype(xr.dtype)


def _permute(perm: jax.Array, a: jax.Array) -> jax.Array:
    """``out[k] = a[i]`` where ``perm[k, i] = 1``; ``a`` is ``(n, ..., B)``. Exact (one term)."""
    p = perm.reshape(perm.shape[:2] + (1,) * (a.ndim - 2) + perm.shape[2:])
    return jnp.sum(p * a[None], axis=1)


def _unpermute(perm: jax.Array, a: jax.Array) -> jax.Array:
    """Inverse of :func:`_permute`."""
    return _permute(jnp.swapaxes(perm, 0, 1), a)


def _sweep(model: FarmModel, x: jax.Array, y: jax.Array, wind_direction: jax.Array,
           wind_speed: jax.Array, turbulence_intensity: jax.Array, yaw: jax.Array,
           wake_yaw: jax.Array) -> Solution:
    """Steady flow of ``B`` conditions at once, batch axis last (contiguous, vectorised).

    Shapes: ``x, y`` ``(n, B)`` or ``(n, 1)`` m; ``wind_direction, wind_speed,
    turbulence_intensity`` ``(B,)``; ``yaw`` ``(n, B)`` deg; ``wake_yaw`` ``(n_source, 1, B)``
    or ``(n_source, n_target, B)`` deg. Returns a :class:`Solution` whose fields end in ``B``.

    Turbines are visited upstream to downstream. Each visit computes the source's rotor speed,
    thrust and wake constants once (shape ``(P, B)``: the wake constants depend on the TI at each
    of the source's rotor points), then evaluates the wake on the rotor points of the turbines
    downstream of it in one pass. A turbine at or upstream of the source (``dx <= 0.1`` m) sees
    neither deficit nor added turbulence, so skipping it changes nothing.
    """
    n = x.shape[0]
    D = model.turbine.rotor_diameter
    H = model.turbine.hub_height
    w = model.wake
    per_target = wake_yaw.shape[1] > 1

    xr, yr = rotate_to_wind(x, y, wind_direction)                   # (n, B)
    perm = _upstream_order(xr)
    xs, ys = _permute(perm, xr), _permute(perm, yr)                 # sorted upstream first
    wake_yaw_s = _permute(perm, wake_yaw)
    if per_target:
        wake_yaw_s = jnp.swapaxes(_permute(perm, jnp.swapaxes(wake_yaw_s, 0, 1)), 0, 1)
    g = rotor_offsets(D)
    dy_grid = jnp.repeat(g, GRID_POINTS)[:, None]                   # (P, 1) lateral offset
    dz_grid = jnp.tile(g, GRID_POINTS)[:, None]                     # (P, 1) vertical offset
    u0 = wind_speed[None, :] * ((H + dz_grid) / H) ** model.wind_shear  # (P, B) free stream
    ambient = turbulence_intensity                                  # (B,)
    py = ys[:, None, :] + dy_grid[None]                             # (n, P, B)

    def visit(sq, ti, k, lo):
        """Wake of the ``k``-th turbine from upstream on targets ``lo:`` (``sq, ti``: (n, P, B))."""
        take = (lambda a: a[k]) if isinstance(k, int) else (
            lambda a: jax.lax.dynamic_index_in_dim(a, k, keepdims=False))
        u_i = u0 - wk.safe_sqrt(take(sq))                           # (P, B)
        v_i = jnp.cbrt(jnp.mean(u_i**3, axis=0))                    # (B,)
        yaw_t = take(wake_yaw_s)                                    # (1 or n, B)
        yaw_t = (yaw_t[lo:] if per_target else yaw_t)[:, None, :]   # (m or 1, 1, B)
        ct = tb.thrust_coefficient(model.turbine, v_i, yaw_t)
        a = tb.axial_induction(ct, yaw_t)
        src = wk.wake_source(w, yaw_t, ct, take(ti)[None], D)       # (m or 1, P, B)
        dx = (xs[lo:] - take(xs))[:, None, :]                       # (m, 1, B)
        lateral = py[lo:] - take(ys)                                # (m, P, B)
        frac = wk.deficit_at(src, dx, lateral - wk.deflection_at(src, dx), dz_grid)
        du = frac * u0                                              # (m, P, B) m/s
        overlap = _sum_points((du > WAKE_TI_OVERLAP_DEFICIT).astype(du.dtype)) / GRID_POINTS**2
        added = overlap * wk.added_turbulence(w, dx, a, ambient, D)  # (m, 1, B)
        inside = (jnp.abs(lateral) < WAKE_TI_WIDTH * D) & (dx <= WAKE_TI_LENGTH * D) & (added > 0)
        waked = jnp.where(inside, jnp.sqrt(added**2 + ambient**2), ambient)
        return sq.at[lo:].add(du**2), ti.at[lo:].max(waked)

    sq = jnp.zeros_like(py)
    ti = jnp.broadcast_to(ambient, py.shape)
    if n <= UNROLL_MAX_TURBINES:
        for k in range(n - 1):   # the most downstream turbine's wake reaches no rotor
            sq, ti = visit(sq, ti, k, k + 1)
    else:
        (sq, ti), _ = jax.lax.scan(lambda c, k: (visit(*c, k, 0), None), (sq, ti), jnp.arange(n))
    u = u0 - wk.safe_sqrt(sq)                                       # (n, P, B) sorted
    v = _unpermute(perm, jnp.cbrt(jnp.mean(u**3, axis=1)))          # (n, B)
    return Solution(power=tb.power(model.turbine, v, yaw, model.air_density), rotor_velocity=v,
                    point_velocity=_unpermute(perm, u), point_ti=_unpermute(perm, ti),
                    thrust_coefficient=tb.thrust_coefficient(model.turbine, v, yaw))


def solve_conditions(model: FarmModel, x: jax.Array, y: jax.Array, wind_direction: jax.Array,
                     wind_speed: jax.Array, turbulence_intensity: jax.Array, yaw: jax.Array,
                     wake_yaw: jax.Array | None = None) -> Solution:
    """Steady flow at the rotors for a batch of ``B`` inflow conditions (differentiable).

    Args:
        model: :class:`FarmModel`.
        x, y: (n,) turbine coordinates shared by every condition, or (B, n); m.
        wind_direction, wind_speed, turbulence_intensity: (B,) deg, m/s, fraction.
        yaw: (B, n) yaw misalignment, deg (FLORIS v4 sign).
        wake_yaw: optional (B, n_source), (B, n_source, 1) or (B, n_source, n_target) yaw (deg) that each source's
            wake has when it reaches the targets (wake advection delay); defaults to ``yaw``.

    Returns:
        :class:`Solution` with a leading batch axis on every field.
    """
    wake_yaw = yaw if wake_yaw is None else wake_yaw
    wake_yaw = wake_yaw[:, :, None] if wake_yaw.ndim == 2 else wake_yaw
    conditions = (wind_direction, wind_speed, turbulence_intensity, yaw, wake_yaw)
    size = wind_direction.shape[0]
    if size <= BATCH_TILE or size % BATCH_TILE:
        return _solve_batch_first(model, x, y, *conditions)
    # Tiles of BATCH_TILE conditions one after another keep the sweep's working set in cache.
    # Condition c goes to tile c % tiles, so a batch split over devices in contiguous blocks
    # gives every device a share of every tile.
    tiles = size // BATCH_TILE
    to_tiles = lambda a: jnp.swapaxes(a.reshape(BATCH_TILE, tiles, *a.shape[1:]), 0, 1)  # noqa: E731
    layout = {"x": x, "y": y}
    shared = {k: v for k, v in layout.items() if v.ndim == 1}

    def one_tile(tile):
        lay = {**shared, **tile["layout"]}
        return _solve_batch_first(model, lay["x"], lay["y"], *tile["conditions"])

    sol = jax.lax.map(one_tile, {"layout": {k: to_tiles(v) for k, v in layout.items() if v.ndim == 2},
                                 "conditions": tuple(map(to_tiles, conditions))})
    return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1).reshape(size, *a.shape[2:]), sol)


def _solve_batch_first(model: FarmModel, x, y, wind_direction, wind_speed, turbulence_intensity,
                       yaw, wake_yaw) -> Solution:
    """:func:`_sweep` on batch-first arrays (``wake_yaw`` (B, n_source, 1 or n_target))."""
    last = lambda a: jnp.moveaxis(a, 0, -1)  # noqa: E731
    x, y = (a[:, None] if a.ndim == 1 else last(a) for a in (x, y))
    sol = _sweep(model, x, y, wind_direction, wind_speed, turbulence_intensity, last(yaw),
                 last(wake_yaw))
    return jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), sol)


def solve_condition(model: FarmModel, x: jax.Array, y: jax.Array, wind_direction: jax.Array,
                    wind_speed: jax.Array, turbulence_intensity: jax.Array, yaw: jax.Array,
                    wake_yaw: jax.Array | None = None) -> Solution:
    """Steady flow at the rotors for one inflow condition.

    Args:
        model: :class:`FarmModel`.
        x, y: (n,) turbine coordinates, m (x east, y north).
        wind_direction: scalar, deg (meteorological).
        wind_speed: scalar, m/s at hub height.
        turbulence_intensity: scalar ambient TI (fraction).
        yaw: (n,) yaw misalignment of each turbine, deg (FLORIS v4 sign), used for its power.
        wake_yaw: optional (n_source,), (n_source, 1) or (n_source, n_target) yaw (deg) that
            source turbine's wake has when it reaches each target (wake advection delay);
            defaults to ``yaw``.

    Under ``jax.vmap`` prefer :func:`solve_conditions` (batch-last kernel, several times faster)
    or :func:`vmappable_solve_condition`.
    """
    one = lambda a: jnp.asarray(a)[None]  # noqa: E731
    sol = solve_conditions(model, x, y, one(wind_direction), one(wind_speed),
                           one(turbulence_intensity), one(yaw),
                           None if wake_yaw is None else one(wake_yaw))
    return jax.tree.map(lambda a: a[0], sol)


@jax.custom_batching.custom_vmap
def vmappable_solve_condition(model: FarmModel, x: jax.Array, y: jax.Array,
                              wind_direction: jax.Array, wind_speed: jax.Array,
                              turbulence_intensity: jax.Array, yaw: jax.Array,
                              wake_yaw: jax.Array) -> Solution:
    """:func:`solve_condition` (``wake_yaw`` required) whose ``jax.vmap`` runs the batch-last
    kernel of :func:`solve_conditions` instead of a vmapped single-condition sweep.

    For per-copy code that callers vmap (a twin's ``step``). Forward only: differentiate
    :func:`solve_conditions` instead.
    """
    return solve_condition(model, x, y, wind_direction, wind_speed, turbulence_intensity, yaw,
                           wake_yaw)


@vmappable_solve_condition.def_vmap
def _solve_condition_batched(axis_size, in_batched, model, x, y, wind_direction, wind_speed,
                             turbulence_intensity, yaw, wake_yaw):
    model_b, x_b, y_b, *rest_b = in_batched
    if any(jax.tree.leaves(model_b)):  # a batch of turbine types: the plain vmap
        axes = (jax.tree.map(lambda b: 0 if b else None, model_b), 0 if x_b else None,
                0 if y_b else None, *(0 if b else None for b in rest_b))
        sol = jax.vmap(solve_condition, in_axes=axes)(model, x, y, wind_direction, wind_speed,
                                                      turbulence_intensity, yaw, wake_yaw)
    else:
        full = lambda a, b: a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a)))  # noqa: E731
        sol = solve_conditions(model, x, y, *(full(a, b) for a, b in zip(
            (wind_direction, wind_speed, turbulence_intensity, yaw, wake_yaw), rest_b, strict=True)))
    return sol, jax.tree.map(lambda _: True, sol)


@jax.jit
def _farm_power(model, x, y, wd, ws, ti, yaw):
    return solve_conditions(model, x, y, wd, ws, ti, yaw).power


def farm_power(layout_x, layout_y, wind_directions, wind_speeds, turbulence_intensities,
               yaw_angles=None, *, model: FarmModel | None = None, dtype=jnp.float32) -> jax.Array:
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
        dtype: float type of the inputs and the computation (``jnp.float64`` needs
            ``jax_enable_x64``; the turbine tables stay float32 values).
    """
    model = default_model() if model is None else model
    x = jnp.asarray(layout_x, dtype=dtype).reshape(-1)
    y = jnp.asarray(layout_y, dtype=dtype).reshape(-1)
    wd, ws, ti = (jnp.atleast_1d(jnp.asarray(v, dtype=dtype))
                  for v in (wind_directions, wind_speeds, turbulence_intensities))
    n_cond = max(wd.shape[0], ws.shape[0], ti.shape[0])
    if yaw_angles is not None:
        yaw = jnp.asarray(yaw_angles, dtype=dtype)
        n_cond = max(n_cond, yaw.shape[0] if yaw.ndim == 2 else 1)
    wd, ws, ti = (jnp.broadcast_to(v, (n_cond,)) for v in (wd, ws, ti))
    yaw = (jnp.zeros((n_cond, x.shape[0]), dtype) if yaw_angles is None
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
