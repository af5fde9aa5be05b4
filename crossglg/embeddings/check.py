"""`crossglg-text check`: is one source's text worth training on, before a GPU hour is spent?

Three things make class texts useless to the trainer (docs/EMBEDDINGS.md, "Checking texts"):
descriptions of different classes that embed to nearly the same vector (the text cannot tell
them apart), classes with the same joint-importance target ``k_gt`` although their key body
parts differ (the dictionary merged them), and one part sentence used by many classes (it
carries no class information). The check reads the text bank exactly as training does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.cache import open_cache
from crossglg.cache.vectors import item_datasets
from crossglg.embeddings.textbank import text_command_bank
from crossglg.errors import UserError
from crossglg.outputs import png_figure
from crossglg.vocab.body_words import match_parts


@dataclass
class CheckReport:
    dataset: str
    source: str
    embedder: str
    classes: int
    threshold: float
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)
    identical_k_gt: list[dict[str, Any]] = field(default_factory=list)
    shared_parts: list[dict[str, Any]] = field(default_factory=list)
    similarity: np.ndarray | None = None
    class_names: tuple[str, ...] = ()

    @property
    def problems(self) -> int:
        merged = [p for p in self.identical_k_gt if not p["same_parts_named"]]
        return len(self.near_duplicates) + len(merged) + len(self.shared_parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "embedder": self.embedder,
            "classes": self.classes,
            "threshold": self.threshold,
            "problems": self.problems,
            "near_duplicates": self.near_duplicates,
            "identical_k_gt": self.identical_k_gt,
            "shared_parts": self.shared_parts,
        }


def check_texts(
    cache: str | Path,
    dataset: str,
    source: str | None = None,
    embedder: str | None = None,
    layout: str | None = None,
    threshold: float = 0.95,
    shared_by: int = 3,
    parts: str | None = None,
) -> CheckReport:
    """Pairs of classes whose global descriptions have cosine >= ``threshold``, pairs with equal
    ``k_gt``, and part (or joint) sentences used word for word by ``shared_by`` classes or more.

    ``parts`` None reads the granularity the source holds, so a per-joint pack is checked as is.
    """
    with open_cache(cache, readonly=True) as store:
        known = item_datasets(store)
    if dataset not in known:
        have = ", ".join(known) or "none"
        raise UserError(f"{cache}: no texts for dataset {dataset} (it has texts for {have})")
    bank = text_command_bank(cache, dataset, source, embedder, parts, layout)
    src = bank.provenance["source"]
    ids, names = bank.class_ids, bank.class_names
    g = np.asarray(bank.global_vectors, dtype=np.float64)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    sim = g @ g.T
    k_gt = np.asarray(bank.k_gt)
    with open_cache(cache, readonly=True) as store:
        rows = list(store.export_rows(dataset=dataset, source=src))
    named = {
        r["class_id"]: frozenset(match_parts(r["key_body_parts"] or []).phrases)
        for r in rows
        if r["kind"] == "global" and r["sample_index"] == 0
    }
    report = CheckReport(dataset, src, bank.provenance["embedder_model"], len(ids), threshold)
    report.similarity, report.class_names = sim, names
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            pair = {"classes": [ids[i], ids[j]], "names": [names[i], names[j]]}
            if sim[i, j] >= threshold:
                report.near_duplicates.append({**pair, "cosine": round(float(sim[i, j]), 4)})
            if np.allclose(k_gt[i], k_gt[j], atol=1e-6):
                same = named.get(ids[i]) == named.get(ids[j])
                report.identical_k_gt.append({**pair, "same_parts_named": same})
    by_text: dict[tuple[str, str], set[int]] = {}
    for r in rows:
        if r["kind"] != "global" and r["class_id"] in ids:
            by_text.setdefault((r["slot"], " ".join(r["text"].lower().split())), set()).add(r["class_id"])
    for (slot, text), classes in sorted(by_text.items()):
        if len(classes) >= shared_by:
            report.shared_parts.append({"slot": slot, "text": text, "classes": sorted(classes)})
    return report


def similarity_png(report: CheckReport, path: Path) -> None:
    """The class × class cosine matrix of the global descriptions, names on both axes."""
    n = len(report.class_names)
    size = max(6.0, 0.18 * n + 3)
    with png_figure(path, dpi=120, figsize=(size, size)) as (fig, ax):
        im = ax.imshow(report.similarity, vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_xticks(range(n), report.class_names, rotation=90, fontsize=6 if n > 40 else 8)
        ax.set_yticks(range(n), report.class_names, fontsize=6 if n > 40 else 8)
        ax.set_title(f"{report.dataset} · {report.source} · {report.embedder}: cosine of global descriptions")
        fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
