"""One-shot evaluation of a skeleton encoder: embed, classify with both classifiers, report.

Used for model selection on the validation classes during training (cosine only, cheap)
and for the final report on the novel classes (cosine and distribution calibration).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crossglg.train.oneshot import BaseStats, DCConfig, Report, cosine_predict, dc_predict, report

if TYPE_CHECKING:
    from crossglg.train.config import TrainConfig
    from crossglg.train.data import OneShotSplit


def embed(
    model, batches, indices: np.ndarray, batch_size: int, amp_ctx
) -> tuple[np.ndarray, np.ndarray | None]:
    """z_s (and the JID joint weights when the model has a JID) for ``indices``, in order.

    ``batches(idx, train=False)`` yields test-mode input [N, 3, T, V, M] on the model's device.
    """
    import torch

    model.eval()
    zs, ks = [], []
    with torch.no_grad(), amp_ctx():
        for start in range(0, len(indices), batch_size):
            x = batches(indices[start : start + batch_size], train=False)
            out = model(x)
            zs.append(out.z_s.float().cpu().numpy())
            if out.k_out is not None:
                ks.append(out.k_out.float().cpu().numpy())
    z = np.concatenate(zs) if zs else np.zeros((0, 0), np.float32)
    return z, (np.concatenate(ks) if ks else None)


def dc_config(cfg: TrainConfig) -> DCConfig:
    return DCConfig(
        beta=cfg.dc_beta, k=cfg.dc_k, alpha=cfg.dc_alpha, samples=cfg.dc_samples, max_iter=cfg.dc_max_iter
    )


def classify(
    split: OneShotSplit,
    z_support: np.ndarray,
    z_query: np.ndarray,
    base: BaseStats | None,
    dc: DCConfig,
    seed: int,
) -> dict[str, Report]:
    """Both classifiers on one split; DC only when base statistics are given."""
    out = {
        "cosine": report(
            split.query_labels, cosine_predict(z_support, split.support_labels, z_query), split.class_ids
        )
    }
    if base is not None:
        pred = dc_predict(z_support, split.support_labels, z_query, base, dc, seed=seed)
        out["dc"] = report(split.query_labels, pred, split.class_ids)
    return out


def write_results(
    results: dict[str, Report],
    split: OneShotSplit,
    class_names: dict[int, str],
    out_dir: Path,
    extra: dict,
) -> Path:
    """results.json plus one confusion-matrix PNG per classifier."""
    from crossglg.train.plots import confusion

    out_dir.mkdir(parents=True, exist_ok=True)
    doc = dict(extra)
    doc.update(
        {
            "classes": {str(c): class_names.get(c, str(c)) for c in split.class_ids},
            "n_support": len(split.support),
            "n_query": len(split.query),
            "classifiers": {name: r.to_json() for name, r in results.items()},
        }
    )
    path = out_dir / "results.json"
    path.write_text(json.dumps(doc, indent=1))
    labels = [f"{c} {class_names.get(c, '')}".strip() for c in split.class_ids]
    for name, r in results.items():
        title = f"{name}: one-shot accuracy {100 * r.accuracy:.1f}% ({len(split.query)} queries)"
        confusion(r.confusion, labels, title, out_dir / f"confusion_{name}.png")
    return path
