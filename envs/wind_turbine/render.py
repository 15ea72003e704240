"""Host-side picture of one WindTurbine-v0 state: rotor speed, pitch, power and hub wind over the
last minute (``history_len`` samples, one every ``history_every`` steps), as a small RGB image."""

from __future__ import annotations

from typing import Any

import numpy as np
from twingym.envs.wind_turbine.env import HISTORY_ROWS

_TITLES = {"rotor_speed_rpm": "rotor speed (rpm)", "pitch_deg": "pitch (deg)",
           "power_mw": "power (MW)", "wind_ms": "hub wind (m/s)"}


def ordered_history(state: Any, params: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(times (n,), samples (4, n))``: the filled part of the ring buffer, oldest first; times in
    seconds relative to now (<= 0)."""
    history = np.asarray(state.history, dtype=np.float64)
    length, every = params.history_len, params.history_every
    time = int(np.asarray(state.time))
    newest = (time // every) % length
    filled = min(time // every + 1, length)
    order = [(newest - k) % length for k in range(filled)][::-1]
    times = -np.arange(filled)[::-1] * every * float(params.dt) - (time % every) * float(params.dt)
    return times, history[:, order]


def render_history(state: Any, params: Any, width_px: int = 480, height_px: int = 360) -> np.ndarray:
    """``(height_px, width_px, 3)`` uint8 image of the last minute of the episode."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    times, samples = ordered_history(state, params)
    dpi = 80
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    for ax, row, values in zip(axes.ravel(), HISTORY_ROWS, samples, strict=True):
        ax.plot(times, values, lw=1.2, color="tab:blue", marker="." if len(times) < 3 else None)
        ax.set_title(_TITLES[row], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("time (s)", fontsize=7)
    fig.suptitle(f"WindTurbine-v0  t = {int(np.asarray(state.time)) * float(params.dt):.1f} s", fontsize=9)
    fig.tight_layout()
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3]
    return np.ascontiguousarray(image[:height_px, :width_px])
