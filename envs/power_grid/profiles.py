"""Exogenous time series of the grid twin: daily load shape, solar clear-sky curve, stochastic
wind and cloud processes. All functions are pure JAX and take the hour of day in [0, 24).

* Load: ``load_shape(h)`` is a smooth daily curve normalised to 1.0 at its evening peak (19:00),
  with a morning shoulder (08:00) and a night minimum near 0.62 (04:00). Each bus's load is
  ``base_load * level * load_shape(h) * (1 + e_bus)``, with an episode level drawn at reset and an
  AR(1) multiplicative noise ``e`` per bus (stationary std ``load_noise_std``, correlation
  ``AR_RHO`` per step).
* Solar: ``solar_shape(h) = sin(pi (h - 6) / 12) ** 1.5`` between 06:00 and 18:00, 0 otherwise,
  times a cloud factor in [0.2, 1] driven by an AR(1) latent.
* Wind: capacity factor ``clip(WIND_MEAN_CF + wind_std * z, 0, 1)`` with an AR(1) latent ``z``
  (unit stationary variance); ``wind_std`` is the params' ``wind_cf_std`` (``WIND_STD_CF`` by default).

The forecast of the next step is the conditional mean given the current latent (``AR_RHO * z``),
so forecast errors have the innovation's size: ``sqrt(1 - AR_RHO^2) = 0.44`` times the stationary
std (wind: ``0.44 wind_std`` of capacity per 15-minute step; load: ``0.44 load_noise_std`` per bus).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: per-step autocorrelation of the AR(1) latents (15-minute steps: about 2.5 h e-folding time)
AR_RHO = 0.9
WIND_MEAN_CF = 0.35
WIND_STD_CF = 0.25
CLOUD_MEAN = 0.75
CLOUD_STD = 0.2


def load_shape(hour: jax.Array) -> jax.Array:
    """Daily load factor in (0, 1], 1.0 at 19:00. ``hour`` in hours (any shape)."""
    h = jnp.asarray(hour, jnp.float32)

    def bump(center, width):
        d = jnp.mod(h - center + 12.0, 24.0) - 12.0   # wrapped distance in hours
        return jnp.exp(-0.5 * (d / width) ** 2)

    raw = 0.62 + 0.22 * bump(8.5, 2.5) + 0.16 * bump(13.0, 3.0) + 0.36 * bump(19.0, 2.2) \
        - 0.04 * bump(4.0, 2.0)
    return raw / _PEAK


def _raw_peak() -> float:
    import numpy as np
    h = np.linspace(0, 24, 24 * 60, endpoint=False)

    def bump(center, width):
        d = np.mod(h - center + 12.0, 24.0) - 12.0
        return np.exp(-0.5 * (d / width) ** 2)

    raw = 0.62 + 0.22 * bump(8.5, 2.5) + 0.16 * bump(13.0, 3.0) + 0.36 * bump(19.0, 2.2) \
        - 0.04 * bump(4.0, 2.0)
    return float(raw.max())


_PEAK = _raw_peak()


def solar_shape(hour: jax.Array) -> jax.Array:
    """Clear-sky solar capacity factor in [0, 1] (0 at night, 1 at 12:00)."""
    h = jnp.asarray(hour, jnp.float32)
    s = jnp.sin(jnp.pi * (h - 6.0) / 12.0)
    return jnp.where((h > 6.0) & (h < 18.0), jnp.maximum(s, 0.0) ** 1.5, 0.0)


def ar1_step(key: jax.Array, z: jax.Array, rho: float = AR_RHO) -> jax.Array:
    """One step of a unit-variance AR(1): ``rho z + sqrt(1 - rho^2) eps``."""
    return rho * z + jnp.sqrt(1.0 - rho ** 2) * jax.random.normal(key, z.shape, z.dtype)


def renewable_cf(hour: jax.Array, z: jax.Array, is_wind: jax.Array,
                 wind_std: jax.Array | float = WIND_STD_CF) -> jax.Array:
    """Available capacity factor in [0, 1] of each renewable unit given its latent ``z``;
    ``wind_std`` is the stationary std of the wind capacity factor (default ``WIND_STD_CF``)."""
    wind = jnp.clip(WIND_MEAN_CF + wind_std * z, 0.0, 1.0)
    cloud = jnp.clip(CLOUD_MEAN + CLOUD_STD * z, 0.2, 1.0)
    return jnp.where(is_wind, wind, solar_shape(hour) * cloud)
