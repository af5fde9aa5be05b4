"""`crossglg-text vectors`: one source's text bank as an ``.npz`` for other codebases.

The arrays are what training reads (docs/EMBEDDINGS.md, "Vectors out"), so another
implementation can use the same texts, embedder and ``k_gt`` without this package.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from crossglg.embeddings.textbank import text_command_bank
from crossglg.errors import UserError
from crossglg.outputs import replaced_file, spares_cache, writable_file


def export_vectors(
    cache: str | Path,
    out: Path,
    dataset: str,
    source: str | None = None,
    embedder: str | None = None,
    parts: str | None = None,
    layout: str | None = None,
) -> dict[str, object]:
    """Write the bank to ``out`` (a new file, renamed into place when complete); return its summary."""
    if out.suffix != ".npz":
        raise UserError(f"{out}: the output must end in .npz")
    writable_file(out, ".npz file")
    spares_cache(out, Path(cache), ".npz file")
    bank = text_command_bank(cache, dataset, source, embedder, parts, layout)
    provenance = {**bank.provenance, "layout": bank.layout, "parts": list(bank.part_names)}
    arrays = {
        "class_ids": np.asarray(bank.class_ids, dtype=np.int64),
        "class_names": np.asarray(bank.class_names),
        "slots": np.asarray(bank.part_names),
        "global_vectors": np.asarray(bank.global_vectors_k, dtype=np.float32),  # [C, K, D]
        "local_vectors": np.asarray(bank.local_vectors_k, dtype=np.float32),  # [C, K, P, D]
        "k_gt": np.asarray(bank.k_gt_k, dtype=np.float32),  # [C, K, V]
        "provenance": np.asarray(json.dumps(provenance, sort_keys=True, default=str)),
    }
    with replaced_file(out, ".npz file") as fh:
        np.savez(fh, **arrays)
    return {
        "out": str(out),
        "dataset": dataset,
        "source": provenance["source"],
        "embedder": provenance["embedder_model"],
        "classes": len(bank.class_ids),
        "samples": bank.samples,
        "dim": bank.dim,
    }
