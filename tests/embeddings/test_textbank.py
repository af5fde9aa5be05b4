"""TextBank.from_cache: shapes, vectors, k_gt, samples, selection and the one missing-coverage error."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from crossglg.cache import open_cache
from crossglg.embeddings import pipeline
from crossglg.embeddings.spec import EmbedSettings, resolve_embedder
from crossglg.embeddings.textbank import TextBank
from crossglg.errors import UserError
from crossglg.vocab.layouts import PARTS6, get_layout
from tests.helpers import stored_vectors

from .conftest import fill_cache, msr_records

MSR = "msr-action3d"


def embed(path: Path, **settings) -> str:
    emb = resolve_embedder(EmbedSettings(**settings))
    with open_cache(path) as cache:
        pipeline.embed(cache, emb)
    return emb.embedder_id


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MSR base classes 1-10, two samples each, embedded by MiniLM (built once per module)."""
    path = tmp_path_factory.mktemp("bank") / "cache.db"
    fill_cache(path, msr_records() + msr_records(sample_index=1))
    embed(path)
    return path


@pytest.fixture
def copy_of(embedded: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(embedded, tmp_path / "cache.db"))


def test_shapes_and_vectors(embedded: Path) -> None:
    bank = TextBank.from_cache(embedded, dataset=MSR)
    assert bank.class_ids == tuple(range(1, 11))
    assert bank.class_names[0] == "high arm wave"
    assert bank.part_names == PARTS6 and bank.layout == "msr20" and bank.samples == 2
    assert tuple(bank.global_vectors.shape) == (10, 384)
    assert tuple(bank.local_vectors.shape) == (10, 6, 384)
    assert tuple(bank.k_gt.shape) == (10, 20)
    assert tuple(bank.global_vectors_k.shape) == (10, 2, 384)
    assert tuple(bank.local_vectors_k.shape) == (10, 2, 6, 384)
    assert str(bank.global_vectors.dtype) == "torch.float32"
    np.testing.assert_allclose(bank.k_gt.sum(1).numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(bank.local_vectors.numpy(), bank.local_vectors_k.mean(1).numpy(), atol=1e-6)
    # the vector of (class 2, "foot", sample 1) is exactly the stored one for that text
    with open_cache(embedded, readonly=True) as cache:
        (text_id,) = cache.conn.execute(
            "SELECT text_id FROM items WHERE class_id = 2 AND slot = 'foot' AND sample_index = 1"
        ).fetchone()
        stored = stored_vectors(cache.conn, bank.provenance["embedder_id"], [text_id])[text_id][0]
    np.testing.assert_array_equal(bank.local_vectors_k[1, 1, PARTS6.index("foot")].numpy(), stored)
    assert bank.rows([3, 1]).tolist() == [2, 0]


def test_k_gt_puts_mass_where_the_text_says(embedded: Path) -> None:
    bank = TextBank.from_cache(embedded, dataset=MSR)
    lay = get_layout("msr20")

    def named(class_id: int) -> set[str]:
        row = bank.k_gt[bank.rows([class_id])[0]].numpy()
        return {lay.joints[i] for i in np.flatnonzero(row > 1e-6)}

    # "high arm wave": ["right arm", "right hand"]
    assert named(1) == {"right shoulder", "right elbow", "right wrist", "right hand"}
    assert named(10) == {"left hand", "right hand"}  # "both hands"
    assert named(8) == {"right hand"}  # no list: matched in the description
    assert bank.provenance["k_gt_origin"][8] == ["free_text", "free_text"]
    assert bank.provenance["k_gt_origin"][1] == ["key_body_parts", "key_body_parts"]
    assert bank.provenance["uniform_k_gt_classes"] == []
    assert bank.provenance["source"] == "import:handwritten"


def test_other_layouts_and_class_subsets(embedded: Path) -> None:
    bank = TextBank.from_cache(embedded, dataset=MSR, layout="ntu25", class_ids=[5, 1])
    assert bank.class_ids == (5, 1)
    assert tuple(bank.k_gt.shape) == (2, 25)
    assert bank.k_gt[1, 11].item() == pytest.approx(1 / 6)  # NTU right hand: one of arm (3) + hand (3) joints


def test_missing_coverage_is_one_error_listing_everything(tmp_path: Path) -> None:
    path = fill_cache(
        tmp_path / "c.db", msr_records([1, 2, 3, 4], skip=((3, "hand"), (4, "global"), (4, "foot")))
    )
    embed(path)
    fill_cache(path, msr_records([5, 6]))  # arrives after the embed run
    with pytest.raises(UserError) as err:
        TextBank.from_cache(path, dataset=MSR, class_ids=[1, 2, 3, 4, 5, 6, 7])
    msg = str(err.value)
    assert "\n" not in msg
    assert (
        "no text for class 3 (hand), class 4 (global, foot), class 7 (global, head, hand, arm, hip, leg, foot)"
        in msg
    )
    assert "not embedded by sbert:all-MiniLM-L6-v2" in msg
    assert "classes 5-6 (global, head, hand, arm, hip, leg, foot)" in msg
    assert msg.endswith(
        f"fill it with `crossglg-text generate --dataset msr-action3d --cache {path}` then "
        f"`crossglg-text embed --dataset msr-action3d --model sbert:all-MiniLM-L6-v2 --cache {path}`"
    )
    # the complete classes load on their own
    assert TextBank.from_cache(path, dataset=MSR, class_ids=[1, 2]).class_ids == (1, 2)


def test_joint_part_set_needs_joint_texts(embedded: Path, copy_of: Path) -> None:
    with pytest.raises(
        UserError,
        match=r"holds per-part texts for msr-action3d and no joints texts; read them with --parts parts6 "
        r"\(parts='parts6' from Python\), or fill joints with `crossglg-text generate --dataset "
        r"msr-action3d --parts joints --cache \S+`$",
    ):
        TextBank.from_cache(embedded, dataset=MSR, parts="joints")
    # joint texts for some classes only: the gap is listed as before
    joint_texts = msr_records([1], parts=get_layout("msr20").joints)
    fill_cache(copy_of, [replace(r, kind="joint") for r in joint_texts if r.slot], label="handwritten")
    with pytest.raises(
        UserError,
        match=r"no text for classes 2-10 \(left shoulder, .*`crossglg-text generate --dataset msr-action3d "
        r"--parts joints --cache \S+` then `crossglg-text embed",
    ):
        TextBank.from_cache(copy_of, dataset=MSR, parts="joints")


def test_choosing_embedder_and_source(copy_of: Path) -> None:
    f2 = embed(copy_of, store_dtype="f2")
    with pytest.raises(UserError, match=r"several embedders match.*f4.*f2"):
        TextBank.from_cache(copy_of, dataset=MSR)
    with pytest.raises(UserError, match="several embedders match"):
        TextBank.from_cache(copy_of, dataset=MSR, embedder="sbert:all-MiniLM-L6-v2")
    half = TextBank.from_cache(copy_of, dataset=MSR, embedder=f2[:10])
    full = TextBank.from_cache(copy_of, dataset=MSR, embedder=half.provenance["embedder_id"])
    assert half.provenance["embedder_config"]["dtype"] == "f2"
    with pytest.raises(
        UserError,
        match=r"no embeddings from clip:.*crossglg-text embed --dataset msr-action3d --model clip:x",
    ):
        TextBank.from_cache(copy_of, dataset=MSR, embedder="clip:x")

    fill_cache(copy_of, msr_records([1]), label="gpt")
    with pytest.raises(
        UserError, match=r"several sources.*import:handwritten \(10 classes\), import:gpt \(1 classes\)"
    ):
        TextBank.from_cache(copy_of, dataset=MSR, embedder=f2)
    assert TextBank.from_cache(copy_of, dataset=MSR, embedder=f2, source="import:handwritten").samples == 2
    del full


def test_empty_cache_says_what_to_run(tmp_path: Path) -> None:
    path = fill_cache(tmp_path / "c.db", msr_records([1]))
    with pytest.raises(
        UserError, match=r"no embeddings yet; fill them with `crossglg-text embed --dataset msr-action3d`"
    ):
        TextBank.from_cache(path, dataset=MSR)
    with pytest.raises(
        UserError,
        match=r"no texts for dataset ntu60 \(it has texts for msr-action3d; name one with --text-dataset\); "
        r"fill it with `crossglg-text generate --dataset ntu60 --cache \S+c\.db`",
    ):
        TextBank.from_cache(path, dataset="ntu60")
    with pytest.raises(
        UserError, match=r"fill it with `crossglg-text generate --data prepared/mine --protocol p\.toml"
    ):
        TextBank.from_cache(
            path,
            dataset="generic",
            layout="ntu25",
            generate="crossglg-text generate --data prepared/mine --protocol p.toml",
        )
    with pytest.raises(UserError, match="no such cache file"):
        TextBank.from_cache(tmp_path / "missing.db", dataset=MSR)
