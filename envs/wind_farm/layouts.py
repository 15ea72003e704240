"""Layout generators: regular grids, random layouts with a minimum spacing, user coordinates.

Every generator returns ``(layout_x, layout_y)``, two float32 numpy arrays of shape
``(n_turbines,)`` in metres (x east, y north). Spacings are given in rotor diameters.

The default WindFarm-v0 layout is :func:`grid_layout` with 3 rows x 3 columns at 5 D spacing
(9 NREL 5-MW turbines, rows aligned west-east, so a westerly wind (270 deg) sends every wake
straight into the next turbine 5 D downstream).
"""

from __future__ import annotations

import numpy as np

DEFAULT_DIAMETER = 125.88  # m, NREL 5-MW (FLORIS table value)


def grid_layout(rows: int = 3, cols: int = 3, spacing_d: float = 5.0,
                diameter: float = DEFAULT_DIAMETER, spacing_y_d: float | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """``rows x cols`` turbines, ``spacing_d`` D apart west-east (``spacing_y_d`` D south-north,
    equal by default). Turbine ``k`` sits in row ``k // cols`` (south to north), column
    ``k % cols`` (west to east)."""
    if rows < 1 or cols < 1:
        raise ValueError(f"grid_layout needs rows, cols >= 1 (got {rows} x {cols})")
    if spacing_d <= 0:
        raise ValueError(f"grid_layout needs spacing_d > 0 (got {spacing_d})")
    sy = spacing_d if spacing_y_d is None else spacing_y_d
    col, row = np.meshgrid(np.arange(cols), np.arange(rows))
    x = col.ravel() * spacing_d * diameter
    y = row.ravel() * sy * diameter
    return x.astype(np.float32), y.astype(np.float32)


def random_layout(n_turbines: int, min_spacing_d: float = 3.0, extent_d: float | None = None,
                  diameter: float = DEFAULT_DIAMETER, seed: int = 0,
                  max_tries: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """``n_turbines`` turbines placed uniformly at random in a square of side ``extent_d`` D,
    never closer than ``min_spacing_d`` D to each other (rejection sampling, reproducible by
    ``seed``). The square defaults to one with room for about twice the turbines needed."""
    if n_turbines < 1:
        raise ValueError("random_layout needs n_turbines >= 1")
    extent = (extent_d if extent_d is not None
              else min_spacing_d * np.sqrt(2.0 * n_turbines) * 1.2) * diameter
    rng = np.random.default_rng(seed)
    pts: list[np.ndarray] = []
    for _ in range(max_tries):
        p = rng.uniform(0.0, extent, 2)
        if all(np.hypot(*(p - q)) >= min_spacing_d * diameter for q in pts):
            pts.append(p)
            if len(pts) == n_turbines:
                arr = np.asarray(pts, dtype=np.float32)
                return arr[:, 0], arr[:, 1]
    raise ValueError(f"could not place {n_turbines} turbines {min_spacing_d} D apart in a "
                     f"{extent / diameter:.1f} D square; enlarge extent_d")


def custom_layout(layout_x, layout_y, min_spacing_d: float = 1.0,
                  diameter: float = DEFAULT_DIAMETER) -> tuple[np.ndarray, np.ndarray]:
    """User coordinates (m), checked: equal lengths, finite, no two turbines closer than
    ``min_spacing_d`` D."""
    x = np.asarray(layout_x, dtype=np.float32).reshape(-1)
    y = np.asarray(layout_y, dtype=np.float32).reshape(-1)
    if x.shape != y.shape or x.size < 1:
        raise ValueError(f"layout_x and layout_y must have the same non-zero length "
                         f"(got {x.size} and {y.size})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("layout coordinates must be finite")
    if x.size > 1:
        d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
        d[np.diag_indices(x.size)] = np.inf
        if d.min() < min_spacing_d * diameter:
            raise ValueError(f"two turbines are {d.min():.0f} m apart, closer than "
                             f"{min_spacing_d} D = {min_spacing_d * diameter:.0f} m")
    return x, y
