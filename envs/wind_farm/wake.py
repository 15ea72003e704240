"""Single-wake physics: Gaussian velocity deficit, yaw deflection, Crespo-Hernandez added turbulence.

All functions are elementwise over broadcastable arrays in the wind-aligned frame (wind blowing
towards +x): ``dx`` (m) is how far a point lies downstream of the wake-shedding turbine, ``dy``
(m) its lateral offset from that turbine's centre line, ``dz`` (m) its height above hub height.
Yaw angles are in degrees with FLORIS v4's sign: a positive yaw turns the rotor counterclockwise
seen from above and pushes the wake towards -y.

Velocity deficit (Bastankhah & Porte-Agel 2016, with the near-wake blend of FLORIS's ``gauss``):
with ``s = sqrt(1 - Ct)``, the far wake starts at

    x0 = D cos(g) (1 + s) / (sqrt(2) (4 alpha TI + 2 beta (1 - s)))

beyond which the wake widths grow linearly, ``sigma = k (x - x0) + sigma_0`` with
``k = ka TI + kb`` (Niayifar & Porte-Agel 2016), ``sigma_z0 = D/2 sqrt(uR/(U + u0))`` and
``sigma_y0 = sigma_z0 cos(g)``. Inside the near wake the widths blend linearly from
``0.501 D sqrt(Ct/2)`` at the rotor to ``sigma_0`` at ``x0``. The deficit is

    du / U = (1 - sqrt(1 - Ct cos(g) D^2 / (8 sigma_y sigma_z)))
             * exp(-(y - delta)^2 / (2 sigma_y^2) - z^2 / (2 sigma_z^2)).

Deflection ``delta`` (Bastankhah & Porte-Agel 2016, eq. 7.4, with King et al. 2019's skew
angle ``theta_c0 = 0.3 g / cos(g) (1 - sqrt(1 - Ct cos(g)))``): linear in the near wake up to
``delta_0 = tan(theta_c0) x0`` and logarithmic in the far wake.

Added turbulence (Crespo & Hernandez 1996):
``TI+ = c a^ai TI0^e0 (x / D)^ed`` with ``(c, ai, e0, ed) = (0.5, 0.8, 0.1, -0.32)``.

Every branch is evaluated on clipped arguments so that masked-out regions stay finite and
``jax.grad`` never meets ``0 * inf``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

NEAR_WAKE_START = 0.1  # m; a point must lie this far downstream to see a wake (FLORIS's bump)


@struct.dataclass
class WakeParams:
    """Wake-model constants (FLORIS ``gauss`` / ``crespo_hernandez`` defaults)."""

    alpha: float = 0.58     # near-wake length: TI term
    beta: float = 0.077     # near-wake length: induction term
    ka: float = 0.38        # wake growth rate per unit TI
    kb: float = 0.004       # wake growth rate offset
    ad: float = 0.0         # lateral deflection offset, m
    bd: float = 0.0         # lateral deflection offset per metre downstream
    dm: float = 1.0         # deflection multiplier
    ti_constant: float = 0.5    # Crespo-Hernandez c
    ti_ai: float = 0.8          # exponent of the axial induction
    ti_initial: float = 0.1     # exponent of the ambient TI
    ti_downstream: float = -0.32  # exponent of the downstream distance in diameters


def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(max(x, 0))`` with a zero (not infinite) gradient at 0."""
    pos = x > 0.0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _near_wake_length(w: WakeParams, D, cos_g, s_yaw, s, ti):
    """Distance from the rotor to the start of the far wake, m."""
    return D * cos_g * (1.0 + s_yaw) / (jnp.sqrt(2.0) * (4.0 * w.alpha * ti + 2.0 * w.beta * (1.0 - s)))


class WakeSource(struct.PyTreeNode):
    """Everything about one wake that does not depend on where it is sampled.

    Fields broadcast like the ``yaw``, ``ct`` and ``ti`` they are built from (a scalar source or
    one value per target / rotor point). Lengths in m.
    """

    x0: jax.Array          # far-wake onset of the velocity model
    inv_x0: jax.Array      # 1 / x0
    sigma_y0: jax.Array    # wake widths at x0
    sigma_z0: jax.Array
    sigma_rotor: jax.Array  # width at the rotor, 0.501 D sqrt(Ct/2)
    k: jax.Array           # width growth rate ka TI + kb
    peak_num: jax.Array    # Ct cos(g) D^2 / 8
    d_x0: jax.Array        # far-wake onset of the deflection model
    d_delta0: jax.Array    # deflection at d_x0
    d_slope: jax.Array     # d_delta0 / d_x0, near-wake deflection per metre
    d_sy0: jax.Array       # wake widths at d_x0 in the deflection model
    d_sz0: jax.Array
    d_inv_s0: jax.Array    # 1 / (d_sy0 * d_sz0)
    d_sqrt_m0: jax.Array   # sqrt(M0)
    d_log_scale: jax.Array  # log((1.6 + sqrt M0) / (1.6 - sqrt M0))
    d_gain: jax.Array      # theta_c0 E0 / 5.2 sqrt(s0 / (k^2 M0))
    ad: jax.Array
    bd: jax.Array


def wake_source(w: WakeParams, yaw_deg, ct, ti, D) -> WakeSource:
    """Precompute a wake from the shedding turbine's yaw (deg), yawed Ct, TI and diameter (m)."""
    cos_y = jnp.cos(jnp.deg2rad(yaw_deg))
    s = jnp.sqrt(1.0 - ct)
    # velocity model: uR / (U + u0) with uR = U Ct / (2 (1 - s)) and u0 = U s
    sigma_z0 = 0.5 * D * jnp.sqrt(ct / (2.0 * (1.0 - s)) / (1.0 + s))
    k = w.ka * ti + w.kb
    # deflection model (Bastankhah's yaw counts the other way round)
    g = -jnp.deg2rad(yaw_deg)
    ct_c = ct * cos_y
    s_yaw = jnp.sqrt(1.0 - ct_c)
    c0 = 1.0 - s
    m0 = c0 * (2.0 - c0)
    e0 = c0**2 - 3.0 * jnp.exp(1.0 / 12.0) * c0 + 3.0 * jnp.exp(1.0 / 3.0)
    dz0 = 0.5 * D * jnp.sqrt(ct_c / (2.0 * (1.0 - s_yaw)) / (1.0 + s))
    d_s0 = dz0 * dz0 * cos_y
    d_x0 = _near_wake_length(w, D, cos_y, s_yaw, s, ti)
    theta_c0 = w.dm * 0.3 * g / cos_y * (1.0 - s_yaw)
    sqrt_m0 = jnp.sqrt(m0)
    x0 = _near_wake_length(w, D, cos_y, s, s, ti)
    return WakeSource(
        x0=x0, inv_x0=1.0 / x0, sigma_y0=sigma_z0 * cos_y, sigma_z0=sigma_z0,
        sigma_rotor=0.501 * D * jnp.sqrt(ct / 2.0), k=k, peak_num=ct * cos_y * D**2 / 8.0,
        d_x0=d_x0, d_delta0=jnp.tan(theta_c0) * d_x0, d_slope=jnp.tan(theta_c0), d_sy0=dz0 * cos_y, d_sz0=dz0, d_inv_s0=1.0 / d_s0, d_sqrt_m0=sqrt_m0,
        d_log_scale=jnp.log((1.6 + sqrt_m0) / (1.6 - sqrt_m0)),
        d_gain=theta_c0 * e0 / 5.2 * jnp.sqrt(d_s0 / (k * k * m0)),
        ad=jnp.asarray(w.ad), bd=jnp.asarray(w.bd))


def deficit_at(src: WakeSource, dx, dy, dz) -> jax.Array:
    """Fractional velocity deficit ``du/U`` (0..1) at offsets ``dx, dy, dz`` (m; ``dy`` measured
    from the deflected wake centre)."""
    near = (dx > NEAR_WAKE_START) & (dx < src.x0)
    far = dx >= src.x0
    up = jnp.clip(dx, 0.0, src.x0) * src.inv_x0
    grow = src.k * jnp.maximum(dx - src.x0, 0.0)
    sy = jnp.where(near, src.sigma_rotor + up * (src.sigma_y0 - src.sigma_rotor), grow + src.sigma_y0)
    sz = jnp.where(near, src.sigma_rotor + up * (src.sigma_z0 - src.sigma_rotor), grow + src.sigma_z0)
    inv_y, inv_z = 1.0 / sy, 1.0 / sz
    r2 = 0.5 * ((dy * inv_y) ** 2 + (dz * inv_z) ** 2)
    peak = 1.0 - safe_sqrt(jnp.clip(1.0 - src.peak_num * inv_y * inv_z, 0.0, 1.0))
    return jnp.where(near | far, peak * jnp.exp(-r2), 0.0)


def deflection_at(src: WakeSource, dx) -> jax.Array:
    """Lateral wake-centre offset ``delta`` (m) at ``dx`` metres downstream (0 upstream)."""
    near = (dx >= 0.0) & (dx <= src.d_x0)
    offset = src.ad + src.bd * dx
    delta_near = jnp.clip(dx, 0.0, src.d_x0) * src.d_slope
    grow = src.k * jnp.maximum(dx - src.d_x0, 0.0)
    growth = jnp.sqrt((grow + src.d_sy0) * (grow + src.d_sz0) * src.d_inv_s0)
    log_term = src.d_log_scale + jnp.log((1.6 * growth - src.d_sqrt_m0) / (1.6 * growth + src.d_sqrt_m0))
    delta_far = src.d_delta0 + src.d_gain * log_term
    return jnp.where(near, delta_near + offset, 0.0) + jnp.where(dx > src.d_x0, delta_far + offset, 0.0)


def velocity_deficit(w: WakeParams, dx, dy, dz, yaw_deg, ct, ti, D) -> jax.Array:
    """Fractional velocity deficit ``du/U`` (0..1) of one wake at the given points.

    Args:
        dx, dy, dz: point offsets from the rotor centre (m), wind-aligned frame; ``dy`` already
            corrected by the wake deflection.
        yaw_deg: yaw of the wake-shedding turbine (deg, FLORIS sign).
        ct: its yawed thrust coefficient ``Ct(U) cos(gamma)``.
        ti: turbulence intensity at that turbine (fraction).
        D: rotor diameter (m).
    """
    return deficit_at(wake_source(w, yaw_deg, ct, ti, D), dx, dy, dz)


def deflection(w: WakeParams, dx, yaw_deg, ct, ti, D) -> jax.Array:
    """Lateral wake-centre offset ``delta`` (m) at ``dx`` metres downstream (0 upstream)."""
    return deflection_at(wake_source(w, yaw_deg, ct, ti, D), dx)


def added_turbulence(w: WakeParams, dx, axial_induction, ambient_ti, D) -> jax.Array:
    """Crespo-Hernandez wake-added turbulence intensity at ``dx`` m downstream (0 upstream)."""
    downstream = dx > NEAR_WAKE_START
    x_d = jnp.where(downstream, dx, D) / D
    ti = (w.ti_constant * axial_induction**w.ti_ai * ambient_ti**w.ti_initial
          * x_d**w.ti_downstream)
    return jnp.where(downstream, ti, 0.0)
