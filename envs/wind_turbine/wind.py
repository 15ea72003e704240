"""Hub-height wind for the single-turbine twin: Kaimal turbulence as a sum of AR(1) processes,
an IEC-like extreme operating gust, and a mean-wind ramp.

Turbulence model
----------------
The longitudinal turbulence ``u'(t)`` at hub height follows the Kaimal spectrum of IEC 61400-1
(ed. 3, Annex B)::

    S(f) = sigma^2 * 4 L/U / (1 + 6 f L/U)^(5/3)       (one-sided, m^2/s^2/Hz)

with ``sigma = TI * U`` (turbulence intensity times mean wind) and integral scale
``L = 8.1 * Lambda``, ``Lambda = 0.7 * min(hub_height, 60 m)`` (340.2 m for a 90 m hub).

It is realised as the sum of ``K`` independent first-order autoregressive (Ornstein-Uhlenbeck)
components ``x_k`` with time constants ``T_k = c_k L / U`` and variances ``w_k sigma^2``
(``sum w_k = 1``)::

    x_k[n+1] = a_k x_k[n] + sqrt(1 - a_k^2) sqrt(w_k) sigma eps_k[n],   a_k = exp(-dt / T_k)

Each component has the Lorentzian spectrum ``4 w_k sigma^2 T_k / (1 + (2 pi f T_k)^2)``. The
factors ``c_k`` are fixed (log-spaced, ``KAIMAL_TIME_FACTORS``) and the weights ``w_k`` are a
least-squares fit of the sum to the Kaimal shape in relative (log-spectrum) error
over ``f L/U`` in 1e-3 .. 10 (:func:`kaimal_ar_weights`). The fit holds the variance exactly and
the spectrum within about 10 % over that band; it is a point (hub) spectrum, so it slightly
overstates the high-frequency content seen by the whole rotor (no rotor averaging is applied).

Gust and ramp (scenario options)
--------------------------------
- Extreme operating gust (IEC 61400-1 ed. 3, 6.3.2.2, shape only)::

      V(t) = -0.37 V_gust sin(3 pi t/T) (1 - cos(2 pi t/T)),  0 <= t <= T = 10.5 s
      V_gust = gust_scale * 3.3 sigma_1 / (1 + 0.1 D / Lambda),  sigma_1 = I_ref (0.75 U + 5.6)

  ``V_gust`` is the peak-to-trough change (a 0.27 dip, then a 0.74 rise at ``T/2``)
  (the ``1.35 (V_e1 - U)`` cap of the standard is omitted: it only binds near cut-out for class I).
  ``gust_scale = 0`` disables it; the gust starts at a random time in the episode.
- Ramp: the mean wind changes linearly by ``ramp_delta`` m/s over ``ramp_duration`` s from a
  random start time, then stays.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

#: time constants of the AR components as multiples of L/U (slow to fast).
KAIMAL_TIME_FACTORS = (2.0, 0.4, 0.08, 0.016)


def kaimal_spectrum(f: np.ndarray, sigma: float, length: float, mean: float) -> np.ndarray:
    """One-sided Kaimal spectrum ``S(f)`` (m^2/s^2/Hz) at frequencies ``f`` (Hz)."""
    tau = length / mean
    return sigma**2 * 4.0 * tau / (1.0 + 6.0 * f * tau) ** (5.0 / 3.0)


def ar_sum_spectrum(f: np.ndarray, sigma: float, time_constants: np.ndarray,
                    weights: np.ndarray) -> np.ndarray:
    """One-sided spectrum of the sum of OU components (continuous-time limit)."""
    f = np.asarray(f)[..., None]
    return np.sum(4.0 * weights * sigma**2 * time_constants / (1.0 + (2 * np.pi * f * time_constants) ** 2),
                  axis=-1)


@lru_cache(maxsize=8)
def kaimal_ar_weights(time_factors: tuple[float, ...] = KAIMAL_TIME_FACTORS) -> np.ndarray:
    """Variance fractions ``w_k`` (sum 1) of the OU components fitted to the Kaimal shape.

    Least squares (weights clipped at 0) on the relative error over log-spaced ``f L/U`` in 1e-3..10 with
    a heavily weighted row asking ``sum w = 1``, then normalised to exactly unit total variance. Independent of ``U``, ``L`` and ``sigma`` because both
    spectra scale the same way.
    """
    n = np.logspace(-3, 1, 200)                      # f L / U
    target = 4.0 / (1.0 + 6.0 * n) ** (5.0 / 3.0)    # S(f) U / (sigma^2 L)
    c = np.asarray(time_factors)
    basis = 4.0 * c / (1.0 + (2 * np.pi * n[:, None] * c) ** 2)
    # rows: relative spectral error at each frequency, plus a heavy row holding sum(w) = 1
    lhs = np.vstack([basis / target[:, None], 50.0 * np.ones((1, c.size))])
    rhs = np.concatenate([np.ones_like(n), [50.0]])
    w = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    if np.any(w < 0):  # keep it a valid variance split (does not happen for the default factors)
        w = np.maximum(w, 0.0)
    return w / np.sum(w)


def turbulence_length_scale(hub_height: float) -> float:
    """Kaimal integral length scale ``L = 8.1 * 0.7 * min(hub_height, 60)`` (m), IEC 61400-1 ed. 3."""
    return 8.1 * 0.7 * min(hub_height, 60.0)


def turbulence_init(key: jax.Array, sigma: jax.Array, weights: jax.Array) -> jax.Array:
    """Draw the AR components from their stationary law: ``(K,)`` m/s."""
    return jax.random.normal(key, weights.shape) * jnp.sqrt(weights) * sigma


def turbulence_step(key: jax.Array, x: jax.Array, sigma: jax.Array, mean: jax.Array,
                    length: jax.Array, time_factors: jax.Array, weights: jax.Array,
                    dt: jax.Array) -> jax.Array:
    """Advance the ``(K,)`` AR components by ``dt`` s (exact OU discretisation)."""
    tau = time_factors * length / jnp.maximum(mean, 1.0)
    a = jnp.exp(-dt / tau)
    eps = jax.random.normal(key, x.shape)
    return a * x + jnp.sqrt(1.0 - a**2) * jnp.sqrt(weights) * sigma * eps


def eog_amplitude(mean: jax.Array, i_ref: jax.Array, rotor_diameter: jax.Array,
                  hub_height_scale: jax.Array) -> jax.Array:
    """IEC EOG magnitude ``3.3 sigma_1 / (1 + 0.1 D / Lambda)`` (m/s) at hub mean wind ``mean``."""
    sigma1 = i_ref * (0.75 * mean + 5.6)
    return 3.3 * sigma1 / (1.0 + 0.1 * rotor_diameter / hub_height_scale)


def eog_shape(t: jax.Array, duration: jax.Array) -> jax.Array:
    """EOG time shape per unit gust magnitude: zero outside ``0 <= t <= duration``."""
    s = jnp.clip(t / duration, 0.0, 1.0)
    inside = (t >= 0.0) & (t <= duration)
    return jnp.where(inside, -0.37 * jnp.sin(3 * jnp.pi * s) * (1.0 - jnp.cos(2 * jnp.pi * s)), 0.0)


def ramp_offset(t: jax.Array, start: jax.Array, duration: jax.Array, delta: jax.Array) -> jax.Array:
    """Mean-wind change (m/s) of a linear ramp of ``delta`` over ``duration`` from ``start``."""
    return delta * jnp.clip((t - start) / jnp.maximum(duration, 1e-6), 0.0, 1.0)
