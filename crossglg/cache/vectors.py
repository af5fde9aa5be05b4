"""Embedders and embedding vectors: the SQL behind ``crossglg-text embed`` and the text bank.

Vectors are little-endian float32 or float16 BLOBs keyed by (text_id, embedder_id), so a
text shared by several classes, datasets or runs is encoded once, and a rerun finds every
vector already there. Writes go through :meth:`Cache.write` (``BEGIN IMMEDIATE``): one
transaction per batch of vectors, never one per row (docs/CACHE.md, "What the cache guarantees"; docs/EMBEDDINGS.md, "CLIP from a local directory").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crossglg.cache.records import utc_now

if TYPE_CHECKING:
    from crossglg.cache.connection import CacheConnection

NUMPY_DTYPE = {"f4": "<f4", "f2": "<f2"}


@dataclass(frozen=True)
class EmbedderRow:
    """One embedding configuration; ``config`` is the exact payload its id hashes."""

    embedder_id: str
    model: str
    revision: str | None
    dim: int
    dtype: str
    normalized: bool
    max_tokens: int | None
    prefix: str
    config: dict[str, Any]


def put_embedder(cache: CacheConnection, row: EmbedderRow) -> None:
    """Register an embedder; registering the same id again is a no-op."""
    with cache.write():
        cache.conn.execute(
            "INSERT OR IGNORE INTO embedders (embedder_id, model, revision, dim, dtype, normalized,"
            " max_tokens, prefix, config_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.embedder_id,
                row.model,
                row.revision,
                row.dim,
                row.dtype,
                int(row.normalized),
                row.max_tokens,
                row.prefix,
                json.dumps(row.config, sort_keys=True, ensure_ascii=False),
            ),
        )


def embedders(cache: CacheConnection) -> list[EmbedderRow]:
    """Every registered embedder, oldest first."""
    rows = cache.conn.execute(
        "SELECT embedder_id, model, revision, dim, dtype, normalized, max_tokens, prefix, config_json"
        " FROM embedders ORDER BY rowid"
    ).fetchall()
    return [
        EmbedderRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7] or "", json.loads(r[8]))
        for r in rows
    ]


def _dataset_filter(datasets: Sequence[str] | None) -> tuple[str, list[Any]]:
    if not datasets:
        return "", []
    return f" WHERE i.dataset IN ({','.join('?' * len(datasets))})", list(datasets)


_MISSING = """
    FROM texts t
    WHERE t.text_id IN (SELECT i.text_id FROM items i{where})
      AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.text_id = t.text_id AND e.embedder_id = ?)"""


def count_texts(
    cache: CacheConnection, embedder_id: str, datasets: Sequence[str] | None = None
) -> tuple[int, int]:
    """(texts that items point to, those of them not yet embedded by ``embedder_id``)."""
    where, args = _dataset_filter(datasets)
    total = cache.conn.execute(f"SELECT COUNT(DISTINCT i.text_id) FROM items i{where}", args).fetchone()[0]
    missing = cache.conn.execute(
        "SELECT COUNT(*)" + _MISSING.format(where=where), [*args, embedder_id]
    ).fetchone()[0]
    return total, missing


def missing_texts(
    cache: CacheConnection, embedder_id: str, datasets: Sequence[str] | None = None, chunk: int = 2048
) -> Iterator[list[tuple[int, str]]]:
    """Chunks of (text_id, text) that items point to and ``embedder_id`` has not embedded.

    Read fully before yielding, so the caller may write between chunks on the same connection.
    """
    where, args = _dataset_filter(datasets)
    rows = cache.conn.execute(
        "SELECT t.text_id, t.text" + _MISSING.format(where=where) + " ORDER BY t.text_id",
        [*args, embedder_id],
    ).fetchall()
    for start in range(0, len(rows), chunk):
        yield rows[start : start + chunk]


def put_vectors(
    cache: CacheConnection,
    embedder_id: str,
    text_ids: Sequence[int],
    vectors: np.ndarray,
    dtype: str,
    n_tokens: Sequence[int],
    truncated: Sequence[bool],
    run_id: str | None = None,
) -> int:
    """Store a batch of vectors in one ``BEGIN IMMEDIATE`` transaction; returns rows inserted.

    A (text, embedder) pair already present is kept as it was: vectors are never recomputed
    into an existing row (they differ slightly across batch sizes, docs/CACHE.md, "The cache key").
    """
    if len(text_ids) != len(vectors):
        raise ValueError(f"{len(text_ids)} text ids for {len(vectors)} vectors")
    blobs = np.ascontiguousarray(vectors, dtype=NUMPY_DTYPE[dtype])
    now = utc_now()
    rows = [
        (int(t), embedder_id, blobs[i].tobytes(), int(n_tokens[i]), int(bool(truncated[i])), now, run_id)
        for i, t in enumerate(text_ids)
    ]
    with cache.write():
        before = cache.conn.total_changes
        cache.conn.executemany(
            "INSERT OR IGNORE INTO embeddings (text_id, embedder_id, vector, n_tokens, truncated, created_at,"
            " run_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return cache.conn.total_changes - before


def _embedder_shape(cache: CacheConnection, embedder_id: str) -> tuple[int, str]:
    row = cache.conn.execute(
        "SELECT dim, dtype FROM embedders WHERE embedder_id = ?", (embedder_id,)
    ).fetchone()
    if row is None:
        raise KeyError(embedder_id)
    return row[0], row[1]


def item_datasets(cache: CacheConnection) -> list[str]:
    """Every dataset name that has texts, sorted."""
    return [r[0] for r in cache.conn.execute("SELECT DISTINCT dataset FROM items ORDER BY dataset")]


def item_sources(cache: CacheConnection, dataset: str) -> list[tuple[str, int]]:
    """(source, number of classes) for one dataset, most classes first."""
    return cache.conn.execute(
        "SELECT source, COUNT(DISTINCT class_id) AS n FROM items WHERE dataset = ? GROUP BY source"
        " ORDER BY n DESC, source",
        (dataset,),
    ).fetchall()


@dataclass
class BankRows:
    """Every item of one (dataset, source) with its vector for one embedder, in (class, kind, slot, sample) order.

    ``vectors`` is float32 [N, D] (read-only) with zeros where ``embedded`` is False; global rows
    carry their text for the k_gt matcher, local rows None (their text is never needed).
    """

    class_id: np.ndarray
    class_name: list[str]
    kind: list[str]
    slot: list[str]
    sample_index: np.ndarray
    text_id: np.ndarray
    key_body_parts: list[list[str] | None]
    global_text: list[str | None]
    embedded: np.ndarray
    n_tokens: np.ndarray
    truncated: np.ndarray
    vectors: np.ndarray


def bank_rows(cache: CacheConnection, dataset: str, source: str, embedder_id: str) -> BankRows:
    """The text bank's one read query: items → embeddings, decoded with ``np.frombuffer``."""
    dim, dtype = _embedder_shape(cache, embedder_id)
    rows = cache.conn.execute(
        """SELECT i.class_id, i.class_name, i.kind, i.slot, i.sample_index, i.text_id, i.key_body_parts,
                  CASE WHEN i.kind = 'global' THEN (SELECT t.text FROM texts t WHERE t.text_id = i.text_id) END,
                  e.vector, e.n_tokens, e.truncated
           FROM items i
           LEFT JOIN embeddings e ON e.text_id = i.text_id AND e.embedder_id = ?
           WHERE i.dataset = ? AND i.source = ?
           ORDER BY i.class_id, i.kind, i.slot, i.sample_index""",
        (embedder_id, dataset, source),
    ).fetchall()
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 11
    embedded = np.array([b is not None for b in cols[8]], dtype=bool)
    payload = np.frombuffer(b"".join(b for b in cols[8] if b is not None), NUMPY_DTYPE[dtype]).reshape(
        -1, dim
    )
    if embedded.all():  # the usual case: one decode, no scatter
        vectors = payload.astype(np.float32, copy=False)
    else:
        vectors = np.zeros((n, dim), dtype=np.float32)
        vectors[embedded] = payload
    return BankRows(
        class_id=np.array(cols[0], dtype=np.int64),
        class_name=list(cols[1]),
        kind=list(cols[2]),
        slot=list(cols[3]),
        sample_index=np.array(cols[4], dtype=np.int64),
        text_id=np.array(cols[5], dtype=np.int64),
        key_body_parts=[json.loads(p) if p else None for p in cols[6]],
        global_text=list(cols[7]),
        embedded=embedded,
        n_tokens=np.array([x if x is not None else -1 for x in cols[9]], dtype=np.int64),
        truncated=np.array([bool(x) for x in cols[10]], dtype=bool),
        vectors=vectors,
    )


def coverage(cache: CacheConnection, datasets: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per (dataset, source, embedder): classes fully embedded, local slots, texts, for ``crossglg-text stats``.

    A class counts as covered when every one of its texts (global and local, all samples)
    has a vector for that embedder: exactly what the text bank needs to load it.
    """
    where, args = _dataset_filter(datasets)
    per_class = cache.conn.execute(
        f"""SELECT i.dataset, i.source, m.embedder_id, m.model, i.class_id,
                   COUNT(DISTINCT CASE WHEN i.kind != 'global' THEN i.slot END), COUNT(DISTINCT i.text_id),
                   COUNT(DISTINCT e.text_id), COUNT(DISTINCT CASE WHEN e.truncated THEN e.text_id END)
            FROM items i CROSS JOIN embedders m
            LEFT JOIN embeddings e ON e.text_id = i.text_id AND e.embedder_id = m.embedder_id{where}
            GROUP BY i.dataset, i.source, m.embedder_id, i.class_id
            ORDER BY i.dataset, i.source, m.model, m.embedder_id""",
        args,
    ).fetchall()
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for dataset, source, embedder_id, model, _cls, slots, texts, embedded, truncated in per_class:
        row = out.setdefault(
            (dataset, source, embedder_id),
            {
                "dataset": dataset,
                "source": source,
                "embedder_id": embedder_id,
                "model": model,
                "classes": 0,
                "classes_covered": 0,
                "slots": 0,
                "texts": 0,
                "embedded": 0,
                "truncated": 0,
            },
        )
        row["classes"] += 1
        row["classes_covered"] += int(embedded == texts)
        row["slots"] = max(row["slots"], slots)
        row["texts"] += texts
        row["embedded"] += embedded
        row["truncated"] += truncated
    return list(out.values())
