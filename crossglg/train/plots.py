"""Pictures of a run: training curves, confusion matrices, joint importance on the skeleton.

matplotlib runs headless (Agg) so the trainer works on servers without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossglg.outputs import png_figure


def training_curves(history: list[dict], path: Path) -> None:
    """Loss on the left; accuracies, the JID's largest joint weight (a 0–1 share, so a collapse
    onto one joint is seen beside the accuracies) and the learning rate on the right."""
    epochs = [h["epoch"] for h in history]
    with png_figure(path, dpi=110, ncols=2, figsize=(10, 4)) as (fig, (ax_l, ax_a)):
        for key in sorted({k for h in history for k in h if k.startswith("loss")}):
            ax_l.plot(epochs, [h.get(key, np.nan) for h in history], label=key)
        ax_l.set_xlabel("epoch")
        ax_l.set_ylabel("training loss")
        ax_l.legend(fontsize=8)
        for key in sorted({k for h in history for k in h if k.startswith(("val_", "train_acc", "jid_max"))}):
            ax_a.plot(epochs, [h.get(key, np.nan) for h in history], marker=".", label=key)
        ax_a.set_xlabel("epoch")
        ax_a.set_ylabel("accuracy, JID largest weight")
        ax_a.set_ylim(0, 1)
        ax_a.legend(fontsize=8, loc="upper left")
        ax_lr = ax_a.twinx()
        ax_lr.plot(epochs, [h.get("lr", np.nan) for h in history], color="grey", ls=":", label="lr")
        ax_lr.set_ylabel("learning rate", color="grey")
        fig.tight_layout()


def confusion(matrix: np.ndarray, labels: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix (rows = true class)."""
    m = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    n = len(labels)
    with png_figure(path, dpi=110, figsize=(2 + 0.45 * n, 1.5 + 0.45 * n)) as (fig, ax):
        im = ax.imshow(m, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=9)
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] > 0.5 else "black")  # fmt: skip
        fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()


def joint_importance(
    poses: np.ndarray,
    weights: np.ndarray,
    bones: tuple[tuple[int, int], ...],
    titles: list[str],
    path: Path,
) -> None:
    """The skeleton (x, y of a middle frame) with each joint's circle sized by its JID weight.

    ``poses`` is [S, V, 3], ``weights`` [S, V] (rows sum to 1). Circle area is proportional
    to the weight relative to uniform 1/V, so a uniform prediction draws equal circles.
    """
    from crossglg.data.pictures import weighted_skeletons

    weighted_skeletons(poses, poses.shape[1] * np.asarray(weights), bones, titles, path)
