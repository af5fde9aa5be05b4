"""The encoder back-ends (embedder kinds) behind one interface: ``encode(texts) -> Encoded``.

Every back-end counts tokens *before* truncating, so a text that did not fit is flagged per
row instead of being cut silently (CLIP's 77-token limit, docs/EMBEDDINGS.md, "CLIP from a local directory"), and the
``--long-text`` policy (truncate / chunk-mean / error) is applied in one place for all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crossglg.embeddings.kinds import EMBEDDERS
from crossglg.embeddings.spec import Embedder, read_json
from crossglg.errors import UserError

if TYPE_CHECKING:  # numpy loads with the first encoder: listing the kinds (--help) stays light
    import numpy as np


@dataclass
class Encoded:
    """Vectors [N, D] float32 plus, per text, its full token count and whether it was cut."""

    vectors: np.ndarray
    n_tokens: np.ndarray
    truncated: np.ndarray


class Encoder:
    """Base: token counting, the long-text policy, normalisation. Back-ends implement ``_encode``.

    The class attributes enter the embedder id (docs/CACHE.md, "The cache key"): ``library`` is
    the distribution whose version is recorded, ``pooling`` how token states become a vector;
    ``fetch_hint`` ends the message for a model that is not available locally.
    """

    library = "transformers"
    pooling = "mean"
    fetch_hint = ""

    @classmethod
    def max_tokens_of(cls, directory: Path) -> int:
        """The model's own input limit, read from its files (the tokenizer's, incl. special tokens)."""
        tok = read_json(directory / "tokenizer_config.json").get("model_max_length")
        limits = [int(tok)] if isinstance(tok, (int, float)) and tok < 1e6 else []
        config = read_json(directory / "config.json")
        if config.get("max_position_embeddings"):
            limits.append(int(config["max_position_embeddings"]))
        return min(limits) if limits else 512

    def __init__(self, embedder: Embedder) -> None:
        import torch

        self.embedder = embedder
        self.torch = torch
        self.tokenizer: Any = None
        self.dim = 0

    @property
    def max_tokens(self) -> int:
        return self.embedder.max_tokens

    def count_tokens(self, texts: list[str]) -> np.ndarray:
        """Token counts with the special tokens, before any truncation."""
        import numpy as np

        ids = self.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(texts))

    def encode(self, texts: list[str]) -> Encoded:
        import numpy as np

        prefix = self.embedder.settings.prefix
        if prefix:
            texts = [prefix + t for t in texts]
        n_tokens = self.count_tokens(texts)
        long = n_tokens > self.max_tokens
        policy = self.embedder.settings.long_text
        if policy == "error" and long.any():
            i = int(np.flatnonzero(long)[0])
            raise UserError(
                f"{int(long.sum())} text(s) exceed {self.max_tokens} tokens for {self.embedder.model} "
                f"(first: {n_tokens[i]} tokens, {texts[i][:60]!r}…); use --long-text truncate or chunk-mean"
            )
        vectors = self._encode(texts)
        if policy == "chunk-mean" and long.any():
            for i in np.flatnonzero(long):
                vectors[i] = self._chunk_mean(texts[i])
        if self.embedder.settings.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return Encoded(vectors=vectors.astype(np.float32, copy=False), n_tokens=n_tokens, truncated=long)

    def _chunk_mean(self, text: str) -> np.ndarray:
        """Mean of the vectors of consecutive windows that each fit, weighted by their length."""
        import numpy as np

        ids = self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        n_special = len(self.tokenizer("", add_special_tokens=True)["input_ids"])
        width = max(1, self.max_tokens - n_special)
        windows = [ids[i : i + width] for i in range(0, len(ids), width)]
        chunks = [self.tokenizer.decode(w) for w in windows]
        weights = np.array([len(w) for w in windows], dtype=np.float32)
        vecs = self._encode(chunks)
        return (vecs * weights[:, None]).sum(0) / weights.sum()

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _batched(self, texts: list[str], run_batch: Any) -> np.ndarray:
        """Length-sorted batches (less padding), results put back in input order."""
        import numpy as np

        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bs = self.embedder.settings.batch_size
        with self.torch.inference_mode():
            for start in range(0, len(texts), bs):
                idx = order[start : start + bs]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                ).to(self.embedder.device)
                out[idx] = run_batch(batch).float().cpu().numpy()
        return out


@EMBEDDERS.register("sbert")
class SbertEncoder(Encoder):
    """sentence-transformers: the model's own pooling (MiniLM: mean + Normalize)."""

    library = "sentence-transformers"
    pooling = "model"

    @classmethod
    def max_tokens_of(cls, directory: Path) -> int:
        configured = read_json(directory / "sentence_bert_config.json").get("max_seq_length")
        return int(configured) if configured else super().max_tokens_of(directory)

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(embedder)
        from sentence_transformers import SentenceTransformer

        _quiet_transformers()
        self.model = SentenceTransformer(str(embedder.ref.path), device=embedder.device)
        self.model.max_seq_length = embedder.max_tokens
        if embedder.precision == "fp16":
            self.model.half()
        self.tokenizer = self.model.tokenizer
        self.dim = int(self.model.get_embedding_dimension())

    def _encode(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        return self.model.encode(
            texts,
            batch_size=self.embedder.settings.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,  # the base class normalises, for every back-end alike
            show_progress_bar=False,
        ).astype(np.float32, copy=False)


@EMBEDDERS.register("clip")
class ClipEncoder(Encoder):
    """CLIP's text tower *with* its projection: the joint image–text space of ``get_text_features``.

    Only a full ``CLIPModel`` directory is accepted: a bare text tower has no projection, and its
    pre-projection vector would have the right shape and the wrong meaning (docs/EMBEDDINGS.md, "CLIP from a local directory").
    """

    pooling = "eos-projection"
    fetch_hint = " (save the full CLIPModel with its processor, not only the text tower)"

    @classmethod
    def max_tokens_of(cls, directory: Path) -> int:
        config = read_json(directory / "config.json")
        return int(config.get("text_config", config).get("max_position_embeddings", 77))

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(embedder)
        from transformers import AutoTokenizer, CLIPModel

        _quiet_transformers()
        path = embedder.ref.path
        model_type = _read_model_type(path)
        if model_type != "clip":
            raise UserError(
                f"--model {embedder.model}: config.json says model_type {model_type!r}, not a full CLIPModel; "
                "save the full CLIPModel (text + vision + projections) so vectors are in CLIP's joint space"
            )
        model = CLIPModel.from_pretrained(str(path), dtype=_dtype(self.torch, embedder.precision))
        self.model = model.to(embedder.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.dim = int(model.config.projection_dim)

    def _encode(self, texts: list[str]) -> np.ndarray:
        def text_features(batch: Any) -> Any:
            out = self.model.get_text_features(**batch)
            # transformers ≥ 5 returns the projected vector as ``pooler_output``; older ones a tensor
            return out if isinstance(out, self.torch.Tensor) else out.pooler_output

        return self._batched(texts, text_features)


def _read_model_type(path: Any) -> str | None:
    import json

    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None


@EMBEDDERS.register("hf")
class HfMeanEncoder(Encoder):
    """Any transformers encoder, mean of the last hidden states over non-padding tokens (docs/EMBEDDINGS.md, "DeBERTa-V2-XLarge (the paper's text encoder)")."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(embedder)
        from transformers import AutoModel, AutoTokenizer

        _quiet_transformers()
        path = str(embedder.ref.path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, dtype=_dtype(self.torch, embedder.precision))
        except (OSError, ValueError) as err:
            raise UserError(f"--model {embedder.model}: cannot load a transformers encoder ({err})") from None
        if self.tokenizer.pad_token is None:  # decoder-style tokenizers: padding is masked out anyway
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.model = model.to(embedder.device).eval()
        self.dim = int(model.config.hidden_size)

    def _encode(self, texts: list[str]) -> np.ndarray:
        def mean_pool(batch: Any) -> Any:
            hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

        return self._batched(texts, mean_pool)


def _quiet_transformers() -> None:
    """Our own progress bar covers the work; the per-file "Loading weights" bar is noise."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _dtype(torch: Any, precision: str) -> Any:
    return torch.float16 if precision == "fp16" else torch.float32


def load_encoder(embedder: Embedder) -> Encoder:
    """Load the model named by a resolved embedder (the only place weights are read)."""
    return EMBEDDERS.get(embedder.ref.kind)(embedder)
