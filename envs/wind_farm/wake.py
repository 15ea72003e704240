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
    cos_g = jnp.cos(jnp.deg2rad(yaw_deg))
    s = jnp.sqrt(1.0 - ct)
    # uR / (U + u0) with uR = U Ct / (2 (1 - s)) and u0 = U s
    sigma_z0 = 0.5 * D * jnp.sqrt(ct / (2.0 * (1.0 - s)) / (1.0 + s))
    sigma_y0 = sigma_z0 * cos_g
    x0 = _near_wake_length(w, D, cos_g, s, s, ti)

    # near wake: linear blend of widths between the rotor and x0
    xn = jnp.clip(dx, 0.0, x0)
    up = xn / x0
    down = 1.0 - up
    sigma_rotor = 0.501 * D * jnp.sqrt(ct / 2.0)
    sy_near = down * sigma_rotor + up * sigma_y0
    sz_near = down * sigma_rotor + up * sigma_z0

    # far wake: linear growth past x0
    k = w.ka * ti + w.kb
    xf = jnp.maximum(dx, x0)
    sy_far = k * (xf - x0) + sigma_y0
    sz_far = k * (xf - x0) + sigma_z0

    near = (dx > NEAR_WAKE_START) & (dx < x0)
    far = dx >= x0
    sy = jnp.where(near, sy_near, sy_far)
    sz = jnp.where(near, sz_near, sz_far)
    r2 = dy**2 / (2.0 * sy**2) + dz**2 / (2.0 * sz**2)
    peak = 1.0 - safe_sqrt(jnp.clip(1.0 - ct * cos_g * D**2 / (8.0 * sy * sz), 0.0, 1.0))
    return jnp.where(near | far, peak * jnp.exp(-r2), 0.0)


def deflection(w: WakeParams, dx, yaw_deg, ct, ti, D) -> jax.Array:
    """Lateral wake-centre offset ``delta`` (m) at ``dx`` metres downstream (0 upstream)."""
    g = -jnp.deg2rad(yaw_deg)  # the Bastankhah model counts yaw the other way round
    cos_g = jnp.cos(g)
    ct_c = ct * cos_g
    s_yaw = jnp.sqrt(1.0 - ct_c)
    s = jnp.sqrt(1.0 - ct)
    x0 = _near_wake_length(w, D, cos_g, s_yaw, s, ti)
    k = w.ka * ti + w.kb

    c0 = 1.0 - s
    m0 = c0 * (2.0 - c0)
    e0 = c0**2 - 3.0 * jnp.exp(1.0 / 12.0) * c0 + 3.0 * jnp.exp(1.0 / 3.0)
    sigma_z0 = 0.5 * D * jnp.sqrt(ct_c / (2.0 * (1.0 - s_yaw)) / (1.0 + s))
    sigma_y0 = sigma_z0 * cos_g

    theta_c0 = w.dm * 0.3 * g / cos_g * (1.0 - s_yaw)
    delta0 = jnp.tan(theta_c0) * x0
    offset = w.ad + w.bd * dx

    near = (dx >= 0.0) & (dx <= x0)
    delta_near = jnp.clip(dx, 0.0, x0) / x0 * delta0

    xf = jnp.maximum(dx, x0)
    sy = k * (xf - x0) + sigma_y0
    sz = k * (xf - x0) + sigma_z0
    sqrt_m0 = jnp.sqrt(m0)
    growth = jnp.sqrt(sy * sz / (sigma_y0 * sigma_z0))
    log_term = jnp.log((1.6 + sqrt_m0) * (1.6 * growth - sqrt_m0)
                       / ((1.6 - sqrt_m0) * (1.6 * growth + sqrt_m0)))
    delta_far = delta0 + theta_c0 * e0 / 5.2 * jnp.sqrt(sigma_y0 * sigma_z0 / (k * k * m0)) * log_term

    return jnp.where(near, delta_near + offset, 0.0) + jnp.where(dx > x0, delta_far + offset, 0.0)


def added_turbulence(w: WakeParams, dx, axial_induction, ambient_ti, D) -> jax.Array:
    """Crespo-Hernandez wake-added turbulence intensity at ``dx`` m downstream (0 upstream)."""
    downstream = dx > NEAR_WAKE_START
    x_d = jnp.where(downstream, dx, D) / D
    ti = (w.ti_constant * axial_induction**w.ti_ai * ambient_ti**w.ti_initial
          * x_d**w.ti_downstream)
    return jnp.where(downstream, ti, 0.0)
