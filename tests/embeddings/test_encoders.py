"""Encoders end to end: texts in the cache → stored vectors, compared with the libraries' own output."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from crossglg.cache import open_cache
from crossglg.embeddings import pipeline
from crossglg.embeddings.spec import EmbedSettings, resolve_embedder
from crossglg.errors import UserError
from tests.helpers import stored_vectors

from .conftest import fill_cache, msr_records

LONG = ("the person raises the right hand slowly and then lowers it again " * 12).strip()  # ~150 BPE tokens
TEXTS = ["a photo of a cat", "wave both arms above the head", "x", LONG]


def _cache_with(path: Path, texts: list[str]) -> Path:
    from crossglg.cache import ImportRecord

    records = [ImportRecord("synthetic", i + 1, f"class {i + 1}", "global", t) for i, t in enumerate(texts)]
    return fill_cache(path, records)


def _embed(cache_path: Path, settings: EmbedSettings) -> tuple[pipeline.EmbedReport, dict]:
    emb = resolve_embedder(settings)
    with open_cache(cache_path) as cache:
        report = pipeline.embed(cache, emb)
        ids = [r[0] for r in cache.conn.execute("SELECT text_id FROM texts ORDER BY text_id")]
        texts = [r[0] for r in cache.conn.execute("SELECT text FROM texts ORDER BY text_id")]
        stored = stored_vectors(cache.conn, emb.embedder_id, ids)
    return report, {t: stored[i] for i, t in zip(ids, texts, strict=True) if i in stored}


def _reference_clip(model_dir: Path, texts: list[str]) -> np.ndarray:
    """get_text_features of the full CLIPModel, the joint-space vector, unit length."""
    import torch
    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    batch = tok(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        out = model.get_text_features(**batch)
    out = out if isinstance(out, torch.Tensor) else out.pooler_output
    return torch.nn.functional.normalize(out, dim=-1).numpy()


def test_clip_vectors_are_get_text_features_and_long_text_is_flagged(
    tmp_path: Path, tiny_clip_dir: Path
) -> None:
    cache = _cache_with(tmp_path / "c.db", TEXTS)
    report, stored = _embed(cache, EmbedSettings(spec=f"clip:{tiny_clip_dir}", batch_size=3))
    assert (report.encoded, report.truncated, report.dim) == (4, 1, 32)
    ref = _reference_clip(tiny_clip_dir, TEXTS)
    for i, text in enumerate(TEXTS):
        vec, n_tokens, truncated = stored[text]
        np.testing.assert_allclose(vec, ref[i], atol=1e-5)
        assert truncated == (text == LONG)
        assert (n_tokens > 77) == (text == LONG)
    assert stored["a photo of a cat"][1] == 7  # <|startoftext|> a photo of a cat <|endoftext|>
    # the pre-projection pooled state has another width (64): the stored one is not it
    assert stored["x"][0].shape == (32,)


def test_clip_long_text_policies(tmp_path: Path, tiny_clip_dir: Path) -> None:
    cache = _cache_with(tmp_path / "c.db", TEXTS)
    with pytest.raises(UserError, match=r"1 text\(s\) exceed 77 tokens.*--long-text"):
        _embed(cache, EmbedSettings(spec=f"clip:{tiny_clip_dir}", long_text="error"))
    _, truncated = _embed(cache, EmbedSettings(spec=f"clip:{tiny_clip_dir}"))
    _, chunked = _embed(cache, EmbedSettings(spec=f"clip:{tiny_clip_dir}", long_text="chunk-mean"))
    np.testing.assert_allclose(chunked["x"][0], truncated["x"][0], atol=1e-6)  # short texts: same vector
    assert chunked[LONG][2] and chunked[LONG][1] == truncated[LONG][1]  # still flagged and counted
    assert not np.allclose(chunked[LONG][0], truncated[LONG][0], atol=1e-3)
    assert np.linalg.norm(chunked[LONG][0]) == pytest.approx(1.0, abs=1e-5)


def test_clip_text_tower_without_projection_is_refused(tmp_path: Path, tiny_clip_dir: Path) -> None:
    from transformers import CLIPTextModel

    bare = tmp_path / "text-only"
    CLIPTextModel.from_pretrained(tiny_clip_dir).save_pretrained(bare)
    shutil.copy(tiny_clip_dir / "tokenizer.json", bare)
    cache = _cache_with(tmp_path / "c.db", TEXTS[:2])
    with pytest.raises(UserError, match="not a full CLIPModel"):
        _embed(cache, EmbedSettings(spec=f"clip:{bare}"))


def test_minilm_vectors_equal_bare_encode(tmp_path: Path, minilm) -> None:
    texts = ["drink water", "sip from a glass", "kick a ball", LONG * 3]
    cache = _cache_with(tmp_path / "c.db", texts)
    report, stored = _embed(cache, EmbedSettings(batch_size=2))
    assert (report.encoded, report.dim, report.truncated) == (4, 384, 1)  # LONG * 3 is over 256 word pieces
    bare = minilm.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    for i, t in enumerate(texts):
        np.testing.assert_allclose(stored[t][0], bare[i], atol=1e-5)
        assert np.linalg.norm(stored[t][0]) == pytest.approx(1.0, abs=1e-5)
    drink, sip, kick = (stored[t][0] for t in texts[:3])
    assert drink @ sip > drink @ kick


def test_hf_mean_pooling_matches_sentence_transformers(tmp_path: Path, minilm) -> None:
    """MiniLM's sentence-transformers pipeline *is* mean pooling + Normalize: hf:DIR must agree."""
    from crossglg.embeddings.spec import DEFAULT_MODEL, resolve_model

    texts = ["drink water", "the person raises both arms high above the head and waves"]
    cache = _cache_with(tmp_path / "c.db", texts)
    model_dir = resolve_model(DEFAULT_MODEL).path
    report, stored = _embed(cache, EmbedSettings(spec=f"hf:{model_dir}", batch_size=2, max_tokens=256))
    assert report.dim == 384
    bare = minilm.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    for i, t in enumerate(texts):
        np.testing.assert_allclose(stored[t][0], bare[i], atol=1e-5)


def test_float16_round_trip(tmp_path: Path) -> None:
    cache = _cache_with(tmp_path / "c.db", TEXTS[:3])
    _, f4 = _embed(cache, EmbedSettings())
    report, f2 = _embed(cache, EmbedSettings(store_dtype="f2"))
    assert report.encoded == 3  # a different embedder id: nothing reused across dtypes
    with open_cache(cache, readonly=True) as c:
        sizes = {
            dtype: size
            for dtype, size in c.conn.execute(
                "SELECT m.dtype, length(e.vector) FROM embeddings e JOIN embedders m USING (embedder_id)"
            )
        }
    assert sizes == {"f4": 384 * 4, "f2": 384 * 2}
    for t in TEXTS[:3]:
        assert f2[t][0].dtype == np.float32
        np.testing.assert_allclose(f2[t][0], f4[t][0], atol=1e-3)
        np.testing.assert_array_equal(f2[t][0], f4[t][0].astype(np.float16).astype(np.float32))


def test_rerun_and_shared_texts_encode_nothing_twice(tmp_path: Path) -> None:
    cache = fill_cache(tmp_path / "c.db", msr_records([1, 2]))
    emb = resolve_embedder(EmbedSettings())
    with open_cache(cache) as c:
        first = pipeline.embed(c, emb)
        second = pipeline.embed(c, emb)
    assert (first.texts, first.encoded) == (14, 14)
    assert (second.to_encode, second.encoded) == (0, 0)
    # a second source repeating one text of class 1 and adding one new text: only the new one is encoded
    from crossglg.cache import ImportRecord

    repeat = msr_records([1])[1]
    fill_cache(
        cache, [repeat, ImportRecord("msr-action3d", 3, "hammer", "global", "A new text.")], label="other"
    )
    with open_cache(cache) as c:
        third = pipeline.embed(c, emb)
        rows = c.conn.execute("SELECT count(*), count(DISTINCT text_id) FROM embeddings").fetchone()
    assert (third.texts, third.encoded) == (15, 1)
    assert rows == (15, 15)


def test_embedder_id_covers_what_changes_vectors(tmp_path: Path, tiny_clip_dir: Path) -> None:
    def eid(**kw) -> str:
        return resolve_embedder(EmbedSettings(spec=f"clip:{tiny_clip_dir}", **kw)).embedder_id

    base = eid()
    assert eid(batch_size=7) == base  # batching never changes the key
    for change in (
        {"normalize": False},
        {"store_dtype": "f2"},
        {"prefix": "a photo of "},
        {"max_tokens": 40},
    ):
        assert eid(**change) != base, change
    moved = tmp_path / "elsewhere" / tiny_clip_dir.name
    shutil.copytree(tiny_clip_dir, moved)
    assert resolve_embedder(EmbedSettings(spec=f"clip:{moved}")).embedder_id == base  # same files, same id
    (moved / "config.json").write_text((moved / "config.json").read_text().replace("}", " }", 1))
    assert resolve_embedder(EmbedSettings(spec=f"clip:{moved}")).embedder_id != base


def test_default_model_aliases_share_one_embedder() -> None:
    ids = {
        resolve_embedder(EmbedSettings(spec=s)).embedder_id
        for s in (
            "sbert:all-MiniLM-L6-v2",
            "all-minilm-l6-v2",
            "sbert:sentence-transformers/all-MiniLM-L6-v2",
        )
    }
    assert len(ids) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("clip:openai/clip-vit-base-patch32", r"not available locally.*huggingface-cli download openai/clip"),
        ("hf:microsoft/deberta-v2-xlarge", r"not available locally.*--model hf:DIR"),
        ("bert:foo", r"unknown kind 'bert'"),
    ],
)
def test_unavailable_models_say_how_to_fetch(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        resolve_embedder(EmbedSettings(spec=spec))
