"""One turbine as JAX functions: thrust coefficient, axial induction and power from rotor velocities.

The turbine follows FLORIS's ``cosine-loss`` operation model (the FLORIS v3 turbine model):

- rotor-average velocity: the cubic mean ``(mean u^3)^(1/3)`` over the rotor points;
- thrust coefficient ``Ct = clip(Ct_table(U), 1e-4, 0.9999) * cos(gamma)`` (yaw ``gamma``);
- axial induction ``a = (1 - sqrt(1 - Ct cos(gamma))) / (2 cos(gamma))``;
- power ``P = P_table(U (rho/rho_ref)^(1/3) cos(gamma)^(pP/3))``, i.e. ``P ~ cos(gamma)^pP``
  below rated, with ``pP = 1.88`` for the NREL 5-MW turbine.

Tables are linearly interpolated; outside the table power is 0 and Ct is 1e-4.

The default turbine ``nrel_5MW_rosco`` is derived from the ROSCO rotor surfaces and ``DISCON.IN``
that WindTurbine-v0 flies (``twingym.envs.turbines.steady_state``); ``iea_15MW_rosco`` likewise
from the IEA 15-MW's ROSCO files. ``nrel_5MW`` is FLORIS's own NREL 5-MW table (FAST steady
states), under FLORIS's name; a ``DISCON.IN`` path loads like WindTurbine-v0's ``turbine=``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from twingym.envs.turbines.floris_yaml import TurbineCurves, load_floris_turbine

CT_MIN, CT_MAX = 1e-4, 0.9999


@struct.dataclass
class TurbineModel:
    """A turbine type as a pytree of float32 arrays (shapes: tables ``(n_table,)``, the rest scalars).

    Attributes:
        wind_speed: m/s, table abscissa.
        power: W, electrical power at ``ref_air_density``.
        thrust_coefficient: dimensionless.
        rotor_diameter: m.
        hub_height: m.
        ref_air_density: kg/m^3.
        cosine_loss_exponent_yaw: exponent pP of ``P ~ cos(gamma)^pP``.
    """

    wind_speed: jax.Array
    power: jax.Array
    thrust_coefficient: jax.Array
    rotor_diameter: jax.Array
    hub_height: jax.Array
    ref_air_density: jax.Array
    cosine_loss_exponent_yaw: jax.Array

    @property
    def rated_power(self) -> jax.Array:
        """W."""
        return jnp.max(self.power)


def turbine_model(turbine: str | TurbineCurves = "nrel_5MW_rosco") -> TurbineModel:
    """:class:`TurbineModel` from a bundled name (``"nrel_5MW_rosco"``: ROSCO-derived, the default;
    ``"iea_15MW_rosco"``; ``"nrel_5MW"``: FLORIS's table),
    a FLORIS YAML or turbine-spec path, a ``DISCON.IN`` path, or :class:`TurbineCurves`."""
    curves = turbine if isinstance(turbine, TurbineCurves) else load_floris_turbine(turbine)
    f32 = lambda v: np.asarray(v, dtype=np.float32)  # noqa: E731  (numpy: safe to cache and to build under a trace)
    return TurbineModel(
        wind_speed=f32(curves.wind_speed), power=f32(curves.power),
        thrust_coefficient=f32(curves.thrust_coefficient), rotor_diameter=f32(curves.rotor_diameter),
        hub_height=f32(curves.hub_height), ref_air_density=f32(curves.ref_air_density),
        cosine_loss_exponent_yaw=f32(curves.cosine_loss_exponent_yaw))


def interp(x: jax.Array, xp: jax.Array, fp: jax.Array, outside: float) -> jax.Array:
    """Linear interpolation of the table ``(xp, fp)`` at ``x`` (any shape), ``outside`` beyond
    the table. Same values as ``jnp.interp``; the bin search compares against every table entry
    (tables are short), which compiles and runs faster than a binary search."""
    xp, fp = jnp.asarray(xp), jnp.asarray(fp)
    idx = jnp.clip(jnp.searchsorted(xp, x, side="right", method="compare_all"), 1, xp.shape[0] - 1)
    x0, x1, f0, f1 = xp[idx - 1], xp[idx], fp[idx - 1], fp[idx]
    f = f0 + (x - x0) / (x1 - x0) * (f1 - f0)
    return jnp.where((x < xp[0]) | (x > xp[-1]), outside, f)


def cubic_mean(u: jax.Array, axis: int = -1) -> jax.Array:
    """Rotor-average velocity ``(mean u^3)^(1/3)`` over ``axis`` (m/s)."""
    return jnp.cbrt(jnp.mean(u**3, axis=axis))


def thrust_coefficient(turbine: TurbineModel, rotor_velocity: jax.Array, yaw_deg: jax.Array) -> jax.Array:
    """Yawed thrust coefficient ``Ct(U) cos(gamma)`` (dimensionless; broadcasts its inputs)."""
    ct = interp(rotor_velocity, turbine.wind_speed, turbine.thrust_coefficient, CT_MIN)
    return jnp.clip(ct, CT_MIN, CT_MAX) * jnp.cos(jnp.deg2rad(yaw_deg))


def axial_induction(ct_yawed: jax.Array, yaw_deg: jax.Array) -> jax.Array:
    """Axial induction factor from the yawed thrust coefficient (dimensionless)."""
    cos_g = jnp.cos(jnp.deg2rad(yaw_deg))
    return 0.5 / cos_g * (1.0 - jnp.sqrt(1.0 - ct_yawed * cos_g))


def power(turbine: TurbineModel, rotor_velocity: jax.Array, yaw_deg: jax.Array,
          air_density: jax.Array | float = 1.225) -> jax.Array:
    """Electrical power (W) at rotor-average velocity ``rotor_velocity`` (m/s) and yaw (deg)."""
    cos_g = jnp.cos(jnp.deg2rad(yaw_deg))
    effective = (rotor_velocity * (air_density / turbine.ref_air_density) ** (1.0 / 3.0)
                 * cos_g ** (turbine.cosine_loss_exponent_yaw / 3.0))
    return interp(effective, turbine.wind_speed, turbine.power, 0.0)
