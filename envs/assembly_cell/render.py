"""Host-side picture of one assembly cell state (matplotlib's Agg canvas, no pyplot).

Stations are boxes coloured by status (green: up at nominal/boost, light green: eco, grey: off,
red: failed, orange: maintenance) with their true wear as a bar underneath; buffers are vertical
fill bars between them; a title line gives the time of day, backlog and finished stock.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from twingym.envs.assembly_cell.dynamics import ECO, FAILED, MAINTENANCE, OFF, SPEED_NAMES
from twingym.envs.assembly_cell.types import AssemblyCellParams, AssemblyCellState

_COLOURS = {"up": "#2e9e44", "eco": "#9ad69f", "off": "#9e9e9e", "failed": "#d62728",
            "maintenance": "#ff9f1c"}


def _station_colour(status: int, speed: int) -> str:
    if status == FAILED:
        return _COLOURS["failed"]
    if status == MAINTENANCE:
        return _COLOURS["maintenance"]
    if speed == OFF:
        return _COLOURS["off"]
    return _COLOURS["eco"] if speed == ECO else _COLOURS["up"]


def render_cell(state: AssemblyCellState, params: AssemblyCellParams, width_px: int = 640) -> np.ndarray:
    """``(H, W, 3)`` uint8 image of one (unbatched) ``state``."""
    m = params.num_stations
    status = np.asarray(state.status)
    speed = np.asarray(state.speed)
    wear = np.asarray(state.wear)
    buffers = np.asarray(state.buffers)
    cap = np.asarray(params.buffer_capacity)
    hour = (int(state.start_step) + int(state.time)) * float(params.dt_hours) % 24.0

    dpi = 80
    fig = Figure(figsize=(width_px / dpi, 0.4 * width_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.85))
    ax.set_xlim(0, 2 * m)
    ax.set_ylim(-0.6, 1.4)
    ax.axis("off")
    for i in range(m):
        x = 2 * i + 0.15
        ax.add_patch(Rectangle((x, 0.2), 1.0, 1.0, color=_station_colour(int(status[i]), int(speed[i]))))
        label = {FAILED: "FAILED", MAINTENANCE: "MAINT"}.get(int(status[i]), SPEED_NAMES[int(speed[i])])
        ax.text(x + 0.5, 0.75, f"S{i}\n{label}", ha="center", va="center", fontsize=9)
        ax.add_patch(Rectangle((x, -0.1), 1.0, 0.15, fill=False, edgecolor="black", linewidth=0.8))
        ax.add_patch(Rectangle((x, -0.1), min(float(wear[i]) / 1.5, 1.0), 0.15, color="#7b4f9d"))
        if i < m - 1:
            bx = 2 * i + 1.45
            frac = float(buffers[i]) / max(float(cap[i]), 1.0)
            ax.add_patch(Rectangle((bx, 0.2), 0.4, 1.0, fill=False, edgecolor="black", linewidth=0.8))
            ax.add_patch(Rectangle((bx, 0.2), 0.4, frac, color="#1f77b4"))
            ax.text(bx + 0.2, -0.35, f"{int(buffers[i])}/{int(cap[i])}", ha="center", fontsize=8)
    fig.suptitle(f"{int(hour):02d}:{int(hour % 1 * 60):02d}  backlog {int(state.backlog)}  "
                 f"stock {int(state.stock)}  out {int(state.parts_out)}", fontsize=10)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
