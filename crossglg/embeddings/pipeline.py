"""``crossglg-text embed`` without the CLI: find what is not embedded yet, encode it, store it.

The model is loaded only when something is missing, so a rerun over a fully embedded cache
is a handful of SQL counts (well under a second) and encodes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from crossglg.cache import Cache
from crossglg.cache.vectors import EmbedderRow, count_texts, missing_texts, put_embedder, put_vectors
from crossglg.embeddings.encoders import load_encoder
from crossglg.embeddings.spec import Embedder

CHUNK = 2048  # texts per encode call and per write transaction


@dataclass
class EmbedReport:
    """What one ``--model`` did (or, in a dry run, would do)."""

    model: str
    embedder_id: str
    texts: int
    to_encode: int
    encoded: int = 0
    truncated: int = 0
    dim: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def plan(cache: Cache, embedder: Embedder, datasets: Sequence[str] | None) -> EmbedReport:
    """How many texts ``embedder`` would encode; loads no model (``--dry-run``)."""
    total, missing = count_texts(cache, embedder.embedder_id, datasets)
    return EmbedReport(embedder.model, embedder.embedder_id, total, missing)


def embed(
    cache: Cache,
    embedder: Embedder,
    datasets: Sequence[str] | None = None,
    run_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    """Encode every text that items point to and ``embedder`` has not embedded; store the vectors.

    ``on_progress(done, total)`` is called after each stored chunk. Each chunk is its own
    transaction, so an interrupted run keeps what it stored and the next run resumes.
    """
    report = plan(cache, embedder, datasets)
    if report.to_encode == 0:
        return report
    start = time.perf_counter()
    encoder = load_encoder(embedder)
    report.dim = encoder.dim
    put_embedder(cache, _embedder_row(embedder, encoder.dim))
    for chunk in missing_texts(cache, embedder.embedder_id, datasets, chunk=CHUNK):
        ids = [tid for tid, _ in chunk]
        out = encoder.encode([text for _, text in chunk])
        report.encoded += put_vectors(
            cache,
            embedder.embedder_id,
            ids,
            out.vectors,
            embedder.settings.store_dtype,
            out.n_tokens,
            out.truncated,
            run_id,
        )
        report.truncated += int(out.truncated.sum())
        if on_progress is not None:
            on_progress(report.encoded, report.to_encode)
    report.seconds = time.perf_counter() - start
    return report


def _embedder_row(embedder: Embedder, dim: int) -> EmbedderRow:
    return EmbedderRow(
        embedder_id=embedder.embedder_id,
        model=embedder.model,
        revision=embedder.ref.revision,
        dim=dim,
        dtype=embedder.settings.store_dtype,
        normalized=embedder.settings.normalize,
        max_tokens=embedder.max_tokens,
        prefix=embedder.settings.prefix,
        config=embedder.config,
    )
