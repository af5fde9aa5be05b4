"""The text bank: the trainer's only door to text.

One call reads everything training needs about a dataset's classes from the cache, with no
model loaded: the global vector [C, D], local vectors [C, P, D], the joint-importance target
k_gt [C, V] and all K cached samples. It either returns a complete bank or raises one
:class:`UserError` that lists exactly which (class, slot) lacks text or a vector and the
command that fills the gap; it never trains on a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crossglg.cache import open_cache
from crossglg.cache.vectors import BankRows, EmbedderRow, bank_rows, embedders, item_datasets, item_sources
from crossglg.embeddings.joint_importance import k_gt_for
from crossglg.embeddings.spec import canonical_spec
from crossglg.errors import UserError
from crossglg.vocab.classes import dataset_layout
from crossglg.vocab.layouts import Layout, get_layout
from crossglg.vocab.parts import part_set

if TYPE_CHECKING:
    import torch

_HEX = re.compile(r"^[0-9a-f]{6,64}$")


#: The options that name a dataset and a source in `crossglg train`, which the bank's errors cite.
TRAINER_OPTIONS = ("--text-dataset", "--text-source")


@dataclass
class TextBank:
    """Per class (rows in ``class_ids`` order): text vectors and the k_gt target.

    Averages over the K samples are in ``global_vectors``, ``local_vectors`` and ``k_gt``;
    the samples themselves in the ``*_k`` tensors, which the text export writes whole (docs/EMBEDDINGS.md).
    """

    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    part_names: tuple[str, ...]
    layout: str
    samples: int
    global_vectors: torch.Tensor  # [C, D]
    local_vectors: torch.Tensor  # [C, P, D]
    k_gt: torch.Tensor  # [C, V], rows sum to 1
    global_vectors_k: torch.Tensor  # [C, K, D]
    local_vectors_k: torch.Tensor  # [C, K, P, D]
    k_gt_k: torch.Tensor  # [C, K, V]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.global_vectors.shape[-1])

    def rows(self, class_ids: Sequence[int]) -> torch.Tensor:
        """Row index of each class id (1-based ids, as in the class lists), for label lookups."""
        import torch

        where = {c: i for i, c in enumerate(self.class_ids)}
        missing = [c for c in class_ids if c not in where]
        if missing:
            raise UserError(f"text bank has no class {missing[0]} (it holds {_ranges(self.class_ids)})")
        return torch.tensor([where[c] for c in class_ids], dtype=torch.long)

    @classmethod
    def from_cache(
        cls,
        path: str | Path,
        dataset: str,
        embedder: str | None = None,
        parts: str | Path | None = "parts6",
        layout: str | Layout | None = None,
        source: str | None = None,
        class_ids: Sequence[int] | None = None,
        generate: str | None = None,
        options: tuple[str, str] = TRAINER_OPTIONS,
    ) -> TextBank:
        """Load the bank for ``dataset`` from a cache file (read-only; nothing is created).

        ``embedder``: a ``kind:model`` as given to ``crossglg-text embed --model``, or an embedder
        id (a prefix of 6+ hex digits is enough); None takes the only one in the cache.
        ``source``: which LLM's texts (``items.source``); None takes the only one.
        ``class_ids``: default every class the cache holds text for.
        ``generate``: the `crossglg-text generate` command that fills a gap, for the errors
        (the trainer names its prepared folder and protocol); default ``--dataset DATASET``.
        ``options``: the calling command's options that name a dataset and a source, for the
        errors (the trainer's are the defaults; `crossglg-text check` has ``--dataset``, ``--source``).
        ``parts``: the local-text granularity; None reads what the source holds (``joints``
        when it has per-joint texts and no part texts, like the ``ntu120-joints`` pack).
        """
        import torch

        lay = layout if isinstance(layout, Layout) else get_layout(layout or dataset_layout(dataset))
        fill = _Fill(path, dataset, generate, options)
        with open_cache(path, readonly=True) as cache:
            src = _pick_source(cache, dataset, source, fill)
            emb = _pick_embedder(embedders(cache), embedder, dataset, path)
            rows = bank_rows(cache, dataset, src, emb.embedder_id)
        parts = _granularity(rows, parts, src, fill)
        pset = part_set(parts, lay.name)
        wanted = tuple(sorted(set(int(c) for c in rows.class_id))) if class_ids is None else tuple(class_ids)
        plan = _plan(rows, wanted, pset.kind, pset.slots)
        _raise_if_missing(plan, fill, src, emb, parts)

        k = min(len(plan.complete[c]) for c in wanted)
        n_c, n_p, dim, v = len(wanted), len(pset.slots), emb.dim, lay.num_joints
        g = np.zeros((n_c, k, dim), np.float32)
        loc = np.zeros((n_c, k, n_p, dim), np.float32)
        kg = np.zeros((n_c, k, v), np.float32)
        origin: dict[int, list[str]] = {}
        used: list[int] = []
        for ci, c in enumerate(wanted):
            for si, s in enumerate(plan.complete[c][:k]):
                gi = plan.index[(c, "global", "", s)]
                li = [plan.index[(c, pset.kind, slot, s)] for slot in pset.slots]
                g[ci, si] = rows.vectors[gi]
                loc[ci, si] = rows.vectors[li]
                kg[ci, si], how = k_gt_for(rows.key_body_parts[gi], rows.global_text[gi], lay)
                origin.setdefault(c, []).append(how)
                used += [gi, *li]
        provenance = {
            "cache": str(Path(path).resolve()),
            "dataset": dataset,
            "source": src,
            "embedder_id": emb.embedder_id,
            "embedder_model": emb.model,
            "embedder_config": emb.config,
            "layout": lay.name,
            "parts": pset.name,
            "samples": k,
            "samples_available": {c: len(plan.complete[c]) for c in wanted},
            "k_gt_origin": origin,
            "uniform_k_gt_classes": [c for c in wanted if all(o == "uniform" for o in origin[c])],
            "truncated_texts": int(rows.truncated[np.unique(used)].sum()),
        }
        names = {int(c): n for c, n in zip(rows.class_id, rows.class_name, strict=True)}
        return cls(
            class_ids=wanted,
            class_names=tuple(names[c] for c in wanted),
            part_names=pset.slots,
            layout=lay.name,
            samples=k,
            global_vectors=torch.from_numpy(g.mean(1)),
            local_vectors=torch.from_numpy(loc.mean(1)),
            k_gt=torch.from_numpy(kg.mean(1)),
            global_vectors_k=torch.from_numpy(g),
            local_vectors_k=torch.from_numpy(loc),
            k_gt_k=torch.from_numpy(kg),
            provenance=provenance,
        )


def text_command_bank(
    cache: str | Path,
    dataset: str,
    source: str | None,
    embedder: str | None,
    parts: str | None,
    layout: str | None,
) -> TextBank:
    """The bank as `crossglg-text check` and `vectors` read it: their errors name their own
    ``--dataset`` and ``--source``, not the trainer's ``--text-dataset`` and ``--text-source``."""
    return TextBank.from_cache(
        cache, dataset=dataset, embedder=embedder, parts=parts, layout=layout, source=source,
        options=("--dataset", "--source"),
    )  # fmt: skip


@dataclass(frozen=True)
class _Fill:
    """The commands that fill a gap in this cache, as the user would type them."""

    path: str | Path
    dataset: str
    generate: str | None = None
    options: tuple[str, str] = TRAINER_OPTIONS

    @property
    def _cache(self) -> str:
        return "" if str(self.path) == "cache.db" else f" --cache {self.path}"

    def generate_command(self, parts: str | Path = "parts6") -> str:
        base = self.generate or f"crossglg-text generate --dataset {self.dataset}"
        return base + ("" if str(parts) == "parts6" else f" --parts {parts}") + self._cache

    def embed_command(self, model: str) -> str:
        return f"crossglg-text embed --dataset {self.dataset} --model {model}{self._cache}"


def _pick_source(cache: Any, dataset: str, source: str | None, fill: _Fill) -> str:
    found = item_sources(cache, dataset)
    names = [s for s, _ in found]
    path = fill.path
    if source is not None:
        if source not in names:
            have = f"it has {', '.join(names)}" if names else "it has none"
            raise UserError(f"{path}: no texts for {dataset} from source {source!r} ({have})")
        return source
    if not names:
        others = ", ".join(d for d in item_datasets(cache) if d != dataset)
        hint = f" (it has texts for {others}; name one with {fill.options[0]})" if others else ""
        raise UserError(
            f"{path}: no texts for dataset {dataset}{hint}; fill it with `{fill.generate_command()}`"
        )
    if len(names) > 1:
        listing = ", ".join(f"{s} ({n} classes)" for s, n in found)
        raise UserError(
            f"{path}: {dataset} has texts from several sources; pick one with {fill.options[1]} "
            f"(source= from Python): {listing}"
        )
    return names[0]


def _pick_embedder(
    rows: list[EmbedderRow], wanted: str | None, dataset: str, path: str | Path
) -> EmbedderRow:
    fill = f"crossglg-text embed --dataset {dataset}"
    if wanted is None:
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise UserError(f"{path}: no embeddings yet; fill them with `{fill}`")
        hits = rows
    elif _HEX.match(wanted):
        hits = [r for r in rows if r.embedder_id.startswith(wanted)]
    else:
        spec = canonical_spec(wanted)
        hits = [r for r in rows if r.model == spec]
        if not hits:
            raise UserError(f"{path}: no embeddings from {spec}; fill them with `{fill} --model {wanted}`")
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UserError(f"{path}: no embedder with id {wanted}…; the cache has {_describe(rows)}")
    raise UserError(f"{path}: several embedders match; pass embedder= one of: {_describe(hits)}")


def _describe(rows: list[EmbedderRow]) -> str:
    def settings(r: EmbedderRow) -> str:
        c = r.config
        return f"{c.get('dtype')}, {c.get('precision')}, normalize={c.get('normalize')}, long_text={c.get('long_text')}"

    return "; ".join(f"{r.embedder_id[:12]} = {r.model} [{settings(r)}]" for r in rows)


def _granularity(rows: BankRows, parts: str | Path | None, source: str, fill: _Fill) -> str | Path:
    """The part set to read: ``parts``, or for None the one the source holds.

    A source of per-joint texts read as ``parts6`` (or the reverse) is most likely a wrong
    option, not a gap: the error names the option that reads what is there before the command
    that generates what was asked for.
    """
    kinds = set(rows.kind)
    if parts is None:
        return "joints" if "joint" in kinds and "part" not in kinds else "parts6"
    wanted = _KIND_OF.get(str(parts))  # a part file is checked slot by slot in _plan
    other = next((k for k in _KIND_OF.values() if k != wanted), None)
    if wanted is not None and wanted not in kinds and other in kinds:
        option = next(name for name, kind in _KIND_OF.items() if kind == other)
        raise UserError(
            f"{fill.path}: source {source} holds per-{other} texts for {fill.dataset} and no {parts} texts; "
            f"read them with --parts {option} (parts={option!r} from Python), or fill {parts} with "
            f"`{fill.generate_command(parts)}`"
        )
    return parts


_KIND_OF = {"parts6": "part", "joints": "joint"}  # the built-in part sets and the kind they read


@dataclass
class _Plan:
    """Row index per (class, kind, slot, sample), the complete samples per class, and the gaps."""

    index: dict[tuple[int, str, str, int], int]
    complete: dict[int, list[int]]
    no_text: dict[int, list[str]]
    not_embedded: dict[int, list[str]]


def _plan(rows: BankRows, wanted: tuple[int, ...], kind: str, slots: tuple[str, ...]) -> _Plan:
    index = {
        (int(c), k, s, int(i)): n
        for n, (c, k, s, i) in enumerate(
            zip(rows.class_id, rows.kind, rows.slot, rows.sample_index, strict=True)
        )
    }
    needed = [("global", "")] + [(kind, s) for s in slots]
    samples_of: dict[int, set[int]] = {}
    for c, _, _, i in index:
        samples_of.setdefault(c, set()).add(i)
    complete: dict[int, list[int]] = {}
    no_text: dict[int, list[str]] = {}
    not_embedded: dict[int, list[str]] = {}
    for c in wanted:
        samples = sorted(samples_of.get(c, ())) or [0]
        complete[c] = [
            i
            for i in samples
            if all((n := index.get((c, k, s, i))) is not None and rows.embedded[n] for k, s in needed)
        ]
        if complete[c]:
            continue
        # report against the sample that is closest to complete, so the list is what one fill needs
        best = max(samples, key=lambda i: sum((c, k, s, i) in index for k, s in needed))
        no_text[c] = [s or "global" for k, s in needed if (c, k, s, best) not in index]
        not_embedded[c] = [
            s or "global"
            for k, s in needed
            if (n := index.get((c, k, s, best))) is not None and not rows.embedded[n]
        ]
    return _Plan(index, complete, no_text, not_embedded)


def _raise_if_missing(plan: _Plan, fill: _Fill, source: str, emb: EmbedderRow, parts: str | Path) -> None:
    gaps = []
    commands = []
    if any(plan.no_text.values()):
        gaps.append("no text for " + _group(plan.no_text))
        commands.append(fill.generate_command(parts))
    if any(plan.not_embedded.values()):
        gaps.append(f"not embedded by {emb.model} ({emb.embedder_id[:12]}): " + _group(plan.not_embedded))
        commands.append(fill.embed_command(emb.model))
    if gaps:
        raise UserError(
            f"{fill.path}: text bank for {fill.dataset} (source {source}) is incomplete: {'; '.join(gaps)}"
            f" — fill it with `{'` then `'.join(commands)}`"
        )


def _group(missing: dict[int, list[str]]) -> str:
    """``{1: [a], 2: [a], 5: [b]}`` → ``classes 1-2 (a), class 5 (b)``: exact and short."""
    by_slots: dict[tuple[str, ...], list[int]] = {}
    for c, slots in missing.items():
        if slots:
            by_slots.setdefault(tuple(slots), []).append(c)
    parts = []
    for slots, classes in by_slots.items():
        label = "class" if len(classes) == 1 else "classes"
        parts.append(f"{label} {_ranges(classes)} ({', '.join(slots)})")
    return ", ".join(parts)


def _ranges(ids: Sequence[int]) -> str:
    out: list[str] = []
    ids = sorted(ids)
    start = prev = ids[0]
    for c in [*ids[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    return ",".join(out)
