"""Skeleton pictures: one pose per panel, each joint's circle sized by a weight.

Shared by the JID picture of ``crossglg eval`` (docs/TRAINING.md, "Evaluation") and the learned
DTW weights of ``crossglg baseline dtw --plot`` (docs/GUIDE.md, "8. Measure"). matplotlib runs
headless (Agg) so both work on servers without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossglg.outputs import png_figure


def weighted_skeletons(
    poses: np.ndarray,
    sizes: np.ndarray,
    bones: tuple[tuple[int, int], ...],
    titles: list[str],
    path: Path,
    shared_scale: bool = False,
) -> None:
    """Each pose's bones (x, y) with a circle per joint whose area and colour follow ``sizes``.

    ``poses`` [S, V, 3]; ``sizes`` [S, V] relative to 1 (1 draws the average circle), so a uniform
    weighting draws equal circles whatever the number of joints. ``shared_scale``: one colour
    scale for every panel, with a colour bar, so that panels compare (by default each panel spans
    its own range, which shows the order within one pose best).
    """
    s = len(poses)
    with png_figure(path, dpi=110, ncols=s, figsize=(3 * s, 3.6), squeeze=False) as (fig, axes):
        limits = (float(np.min(sizes)), float(np.max(sizes))) if shared_scale else (None, None)
        for ax, pose, size, title in zip(axes[0], poses, sizes, titles, strict=True):
            for child, parent in bones:
                ax.plot(pose[[child, parent], 0], pose[[child, parent], 1], color="0.5", lw=1.5, zorder=1)
            dots = ax.scatter(pose[:, 0], pose[:, 1], s=60 * size, c=size, cmap="autumn_r", alpha=0.75,
                              vmin=limits[0], vmax=limits[1], edgecolors="k", linewidths=0.5, zorder=2)  # fmt: skip
            ax.scatter(pose[:, 0], pose[:, 1], s=4, c="k", zorder=3)
            ax.set_title(title, fontsize=8)
            ax.set_aspect("equal")
            ax.axis("off")
        if shared_scale:
            fig.colorbar(dots, ax=axes[0].tolist(), fraction=0.03)
        else:
            fig.tight_layout()
