"""Host-side picture of one grid state: buses as dots, branches coloured by loading (green 0% ->
yellow -> red >= 100%), tripped branches dashed black with a cross at their middle."""

from __future__ import annotations

import numpy as np


def render_grid(state, params, size: tuple[float, float] = (6.4, 4.8), dpi: int = 80) -> np.ndarray:
    """``(H, W, 3)`` uint8 image of ``state`` (one unbatched copy)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    xy = np.asarray(params.bus_xy, dtype=float)
    f, t = np.asarray(params.br_f), np.asarray(params.br_t)
    loading = np.nan_to_num(np.asarray(state.loading, dtype=float))
    status = np.asarray(state.status) > 0
    cmap = matplotlib.colormaps["RdYlGn_r"]
    norm = colors.Normalize(0.0, 1.0)
    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    try:
        for k in range(len(f)):
            (x0, y0), (x1, y1) = xy[f[k]], xy[t[k]]
            if status[k]:
                ax.plot([x0, x1], [y0, y1], color=cmap(norm(min(loading[k], 1.0))),
                        lw=1.5 + 2.5 * min(loading[k], 1.5), zorder=1)
            else:
                ax.plot([x0, x1], [y0, y1], color="black", lw=1.0, ls="--", zorder=1)
                ax.plot([(x0 + x1) / 2], [(y0 + y1) / 2], marker="x", color="black", ms=8, mew=2)
        slack = np.asarray(params.is_slack)
        ax.scatter(xy[:, 0], xy[:, 1], s=18, c=np.where(slack, "tab:blue", "dimgray"), zorder=2)
        ax.scatter(xy[np.asarray(params.ren_bus), 0], xy[np.asarray(params.ren_bus), 1], s=60,
                   facecolors="none", edgecolors="tab:green", zorder=3, label="renewable")
        ax.scatter(xy[np.asarray(params.bat_bus), 0], xy[np.asarray(params.bat_bus), 1], s=110,
                   facecolors="none", edgecolors="tab:purple", zorder=3, label="battery")
        hour = (int(state.time) * params.dt_h) % 24
        ax.set_title(f"{params.case}  t={int(state.time)} ({hour:05.2f} h)  "
                     f"max loading {loading.max() * 100:.0f}%  tripped {int((~status).sum())}",
                     fontsize=9)
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="loading (fraction)")
        ax.legend(loc="lower right", fontsize=7)
        ax.set_axis_off()
        fig.canvas.draw()
        img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(fig)
    return img
