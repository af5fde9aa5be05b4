"""Curated description packs: texts the project's developers wrote for the built-in class lists.

A pack is a JSONL file in the import format (docs/TEXTGEN.md, "Importing descriptions")
beside :mod:`crossglg.prompts`, installed with the package: for every class of its dataset a
global description with key body parts and one sentence per slot of its part set, the six parts
of ``parts6`` or, for ``ntu120-joints``, the 25 joints of ``ntu25`` (``joints``). `crossglg-text
import --pack NAME` stores it under the source ``pack:NAME@VERSION``, so a changed pack is a
new source and never silently replaces the texts a model was trained on. :func:`pack_problems`
holds every pack to the checks of :mod:`crossglg.prompts.quality` and more (docs/TEXTGEN.md,
"Curated packs").
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossglg.cache.importing import read_import_jsonl
from crossglg.cache.records import ImportRecord
from crossglg.errors import UserError
from crossglg.prompts.quality import answer_quality, words
from crossglg.vocab.classes import dataset_layout, load_classes
from crossglg.vocab.parts import part_set

PACK_DIR = Path(__file__).resolve().parents[1] / "prompts" / "packs"


@dataclass(frozen=True)
class Pack:
    """``version`` changes whenever a text does: it is part of the source name."""

    name: str
    version: str
    dataset: str
    parts: str
    about: str
    also: tuple[str, ...] = ()  # class lists that are a prefix of this one (ntu60 of ntu120)

    @property
    def path(self) -> Path:
        return PACK_DIR / f"{self.name}.jsonl"

    @property
    def source(self) -> str:
        return f"pack:{self.name}@{self.version}"


PACKS = {
    p.name: p
    for p in (
        Pack("msr-action3d", "1", "msr-action3d", "parts6", "MSR Action3D, 20 classes, parts6"),
        Pack("utkinect", "1", "utkinect", "parts6", "UTKinect-Action3D, 10 classes, parts6"),
        Pack("pku-mmd", "1", "pku-mmd", "parts6", "PKU-MMD, 51 classes, parts6"),
        Pack("ntu120", "1", "ntu120", "parts6", "NTU RGB+D 120 and 60, 120 classes, parts6", ("ntu60",)),
        Pack(
            "ntu120-joints",
            "1",
            "ntu120",
            "joints",
            "NTU RGB+D 120 and 60, 120 classes, per joint (ntu25)",
            ("ntu60",),
        ),
    )
}


def get_pack(name: str) -> Pack:
    try:
        return PACKS[name]
    except KeyError:
        raise UserError(
            f"no description pack {name!r}; `crossglg-text packs` lists them ({', '.join(PACKS)})"
        ) from None


def pack_records(pack: Pack) -> list[ImportRecord]:
    return read_import_jsonl(pack.path)


def import_records(pack: Pack) -> list[ImportRecord]:
    """What `import --pack` stores: the pack, and its texts again under every ``also`` dataset.

    NTU-60's classes are NTU-120's first 60 (same ids, same names), so one pack serves both.
    """
    records = pack_records(pack)
    for other in pack.also:
        names = {c.class_id: c.name for c in load_classes(other).classes}
        records += [
            dataclasses.replace(r, dataset=other)
            for r in records
            if r.dataset == pack.dataset and names.get(r.class_id) == r.class_name
        ]
    return records


def pack_problems(pack: Pack, records: list[ImportRecord] | None = None) -> list[str]:
    """Everything that keeps a pack from being worth training on; empty when it passes.

    Coverage (every class of the dataset, the global text and every slot of the part set),
    the answer quality checks per class, no text used twice in the pack, and no two classes
    with the same joint-importance target ``k_gt`` unless they name the same body parts.
    """
    from crossglg.embeddings.joint_importance import k_gt_for
    from crossglg.vocab.body_words import match_parts
    from crossglg.vocab.layouts import get_layout

    records = pack_records(pack) if records is None else records
    classes = load_classes(pack.dataset)
    slots = part_set(pack.parts, dataset_layout(pack.dataset)).slots
    problems = []
    by_class: dict[int, dict[str, ImportRecord]] = defaultdict(dict)
    for rec in records:
        if rec.dataset != pack.dataset:
            problems.append(f"class {rec.class_id}: dataset {rec.dataset!r}, not {pack.dataset!r}")
        by_class[rec.class_id][rec.slot] = rec
    texts: dict[str, str] = {}
    for rec in records:
        norm = " ".join(words(rec.text))
        where = f"class {rec.class_id} {rec.slot or 'global'}"
        if norm in texts:
            problems.append(f"{where}: same text as {texts[norm]}")
        texts.setdefault(norm, where)
    layout = get_layout(dataset_layout(pack.dataset))
    targets: dict[bytes, list[tuple[int, frozenset[int]]]] = defaultdict(list)
    for entry in classes.classes:
        got = by_class.get(entry.class_id, {})
        missing = [s or "global" for s in ("", *slots) if s not in got]
        if missing:
            problems.append(f"class {entry.class_id} ({entry.name}): no text for {', '.join(missing)}")
            continue
        glob = got[""]
        answer = {"description": glob.text, "key_body_parts": list(glob.key_body_parts)}
        local = {s: got[s].text for s in slots}
        for kind, ans, sl in (("global", answer, ()), ("part", local, slots)):
            for problem in answer_quality(kind, ans, sl, entry.name).problems:
                problems.append(f"class {entry.class_id} ({entry.name}): {problem}")
        if not glob.key_body_parts:
            problems.append(f"class {entry.class_id} ({entry.name}): no key body parts")
        k_gt, _ = k_gt_for(glob.key_body_parts, glob.text, layout)
        named = frozenset(match_parts(glob.key_body_parts).phrases)
        targets[np.round(k_gt, 6).tobytes()].append((entry.class_id, named))
    for same in targets.values():  # a coarse skeleton may merge parts that were named apart
        for i, (a, named_a) in enumerate(same):
            for b, named_b in same[i + 1 :]:
                if named_a != named_b:
                    problems.append(
                        f"classes {a} and {b}: identical k_gt on {layout.name} although they name "
                        f"different parts ({', '.join(sorted(named_a))} / {', '.join(sorted(named_b))})"
                    )
    extra = sorted(set(by_class) - set(classes.ids))
    if extra:
        problems.append(f"class ids not in {pack.dataset}: {extra}")
    return problems
