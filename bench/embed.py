"""Embedding speed: `crossglg-text embed` vs a bare sentence-transformers encode, reruns, text-bank reads.

Three figures, each with its baseline measured in the same run so the ratio holds on any
machine (the shared CI host swings 5-20x, docs/BENCHMARKS.md, "Measured")::

    OMP_NUM_THREADS=1 .venv/bin/python bench/embed.py --texts 1000 --rerun-texts 10000

1. throughput: the same texts through ``crossglg-text embed`` (model load, token counting,
   SQLite writes included) and through ``SentenceTransformer.encode`` alone; goal >= 0.9x.
   Runs alternate (bare, embed, bare, embed, …) and the medians are compared.
2. rerun: a cache whose 10k texts are all embedded; ``crossglg-text embed`` must encode
   nothing, in < 1 s in-process and as a fresh process. The 10k vectors are stored under the
   real MiniLM embedder id with random values: the rerun only checks existence.
3. text bank: ``TextBank.from_cache`` on an NTU-120-sized bank (120 classes × (global + 25
   joints) × K samples, 384-d f4); vectors/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ACTIONS = ["drink water", "kick a ball", "wave a hand", "sit down", "jump up", "throw", "clap", "bow"]
PARTS = ["head", "left hand", "right arm", "hips", "both legs", "feet", "torso"]
VERBS = [
    "rises slowly",
    "swings forward",
    "stays still",
    "bends at the joint",
    "rotates outward",
    "pushes down",
]


def texts(n: int, seed: int = 0) -> list[str]:
    """Distinct LLM-like descriptions of 12-30 words (the length local answers have)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = [
            f"While the person performs {ACTIONS[i % len(ACTIONS)]} (variant {i}),",
            *(f"the {rng.choice(PARTS)} {rng.choice(VERBS)}" for _ in range(rng.integers(1, 4))),
        ]
        out.append(" and ".join(words) + ".")
    return out


def fill(path: Path, items: list[str], dataset: str = "bench") -> None:
    from crossglg.cache import ImportRecord, open_cache

    records = [ImportRecord(dataset, i + 1, f"class {i + 1}", "global", t) for i, t in enumerate(items)]
    with open_cache(path) as cache:
        cache.import_texts(records, label="bench")


def bench_throughput(n: int, repeats: int, batch_size: int) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer
    from typer.testing import CliRunner

    from crossglg.embeddings.spec import DEFAULT_MODEL, resolve_model
    from crossglg.textgen.cli import app

    items = texts(n)
    model = SentenceTransformer(str(resolve_model(DEFAULT_MODEL).path), device="cpu")
    model.encode(items[:64], batch_size=batch_size)  # warm-up, both paths share the imports
    bare, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            t0 = time.perf_counter()
            model.encode(items, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
            bare.append(time.perf_counter() - t0)
            db = Path(tmp) / f"run{r}.db"
            fill(db, items)
            t0 = time.perf_counter()
            result = CliRunner().invoke(
                app,
                ["embed", "--cache", str(db), "--batch-size", str(batch_size), "--json"],
                catch_exceptions=False,
            )
            ours.append(time.perf_counter() - t0)
            assert json.loads(result.stdout)["models"][0]["encoded"] == n, result.stdout
    return {
        "texts": n,
        "bare_encode_texts_per_s": n / statistics.median(bare),
        "embed_cmd_texts_per_s": n / statistics.median(ours),
        "ratio": statistics.median(bare) / statistics.median(ours),
        "bare_runs_s": [round(x, 2) for x in bare],
        "embed_runs_s": [round(x, 2) for x in ours],
    }


def bench_rerun(n: int) -> dict[str, float]:
    from typer.testing import CliRunner

    from crossglg.cache import open_cache
    from crossglg.cache.vectors import EmbedderRow, put_embedder, put_vectors
    from crossglg.embeddings.spec import EmbedSettings, resolve_embedder
    from crossglg.textgen.cli import app

    emb = resolve_embedder(EmbedSettings())
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cache.db"
        fill(db, texts(n, seed=1))
        with open_cache(db) as cache:
            put_embedder(
                cache,
                EmbedderRow(
                    emb.embedder_id, emb.model, emb.ref.revision, 384, "f4", True, 256, "", emb.config
                ),
            )
            ids = [r[0] for r in cache.conn.execute("SELECT text_id FROM texts")]
            vecs = np.random.default_rng(0).standard_normal((len(ids), 384)).astype(np.float32)
            put_vectors(cache, emb.embedder_id, ids, vecs, "f4", [10] * len(ids), [False] * len(ids))
        t0 = time.perf_counter()
        result = CliRunner().invoke(app, ["embed", "--cache", str(db), "--json"], catch_exceptions=False)
        in_process = time.perf_counter() - t0
        report = json.loads(result.stdout)["models"][0]
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "crossglg.textgen.cli", "embed", "--cache", str(db), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        fresh = time.perf_counter() - t0
    assert report["encoded"] == 0 and json.loads(proc.stdout)["models"][0]["encoded"] == 0
    return {
        "texts": report["texts"],
        "encoded": report["encoded"],
        "in_process_s": in_process,
        "fresh_process_s": fresh,
    }


def bench_textbank(classes: int, samples: int, dim: int = 384) -> dict[str, float]:
    from crossglg.cache import ImportRecord, open_cache
    from crossglg.cache.vectors import EmbedderRow, bank_rows, put_embedder, put_vectors
    from crossglg.embeddings.textbank import TextBank
    from crossglg.vocab.layouts import NTU25

    records = []
    for c in range(1, classes + 1):
        for k in range(samples):
            records.append(
                ImportRecord(
                    "ntu120",
                    c,
                    f"class {c}",
                    "global",
                    f"class {c} sample {k} moves the right hand",
                    "",
                    k,
                    ("right hand",),
                )
            )
            records += [
                ImportRecord("ntu120", c, f"class {c}", "joint", f"class {c} sample {k}: the {j} moves", j, k)
                for j in NTU25.joints
            ]
    eid = "0" * 64
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cache.db"
        with open_cache(db) as cache:
            cache.import_texts(records, label="bench")
            put_embedder(
                cache, EmbedderRow(eid, "sbert:bench", None, dim, "f4", True, 256, "", {"dtype": "f4"})
            )
            ids = [r[0] for r in cache.conn.execute("SELECT text_id FROM texts")]
            vecs = np.random.default_rng(0).standard_normal((len(ids), dim)).astype(np.float32)
            put_vectors(cache, eid, ids, vecs, "f4", [10] * len(ids), [False] * len(ids))
        TextBank.from_cache(db, dataset="ntu120", parts="joints")  # warm the page cache and imports
        t0 = time.perf_counter()
        bank = TextBank.from_cache(db, dataset="ntu120", parts="joints")
        t_bank = time.perf_counter() - t0
        with open_cache(db, readonly=True) as cache:
            t0 = time.perf_counter()
            rows = bank_rows(cache, "ntu120", "import:bench", eid)
            t_query = time.perf_counter() - t0
            t0 = time.perf_counter()  # baseline: every blob, no join, no order, one decode
            blobs = [r[0] for r in cache.conn.execute("SELECT vector FROM embeddings")]
            np.frombuffer(b"".join(blobs), "<f4").reshape(-1, dim)
            t_plain = time.perf_counter() - t0
        size = db.stat().st_size
    n = len(records)
    assert tuple(bank.local_vectors_k.shape) == (classes, samples, 25, dim) and len(rows.kind) == n
    return {
        "vectors": n,
        "textbank_vectors_per_s": n / t_bank,
        "read_query_vectors_per_s": n / t_query,
        "plain_select_vectors_per_s": len(blobs) / t_plain,
        "textbank_s": t_bank,
        "file_bytes_per_item": size / n,  # texts + items + embeddings rows together
        "payload_bytes": dim * 4,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=1000, help="texts for the throughput comparison")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each path")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rerun-texts", type=int, default=10000)
    parser.add_argument("--bank-classes", type=int, default=120)
    parser.add_argument("--bank-samples", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    report = {
        "load_avg": os.getloadavg(),
        "torch_threads": torch.get_num_threads(),
        "throughput": bench_throughput(args.texts, args.repeats, args.batch_size),
        "rerun": bench_rerun(args.rerun_texts),
        "textbank": bench_textbank(args.bank_classes, args.bank_samples),
    }
    report["load_avg_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
