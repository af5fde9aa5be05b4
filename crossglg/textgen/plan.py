"""From CLI choices to the exact list of requests: which classes, which prompts, which keys.

Class selection is where a one-shot protocol is protected: with ``--protocol`` only its
base classes get text, and asking for a novel class is refused unless ``--include-novel``.
A bare ``--dataset`` means the whole class list (a class list knows nothing of protocols).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossglg.cache import RequestRow, batches, open_cache, request_key, sample_seed
from crossglg.errors import UserError
from crossglg.prompts import Template, answer_schema, load_template
from crossglg.prompts.custom import PromptContext
from crossglg.textgen.backends import Backend, ChatRequest
from crossglg.textgen.items import ItemTarget
from crossglg.vocab.classes import (
    DATASET_LAYOUTS,
    ClassEntry,
    ClassList,
    builtin_names,
    dataset_layout,
    load_classes,
)
from crossglg.vocab.parts import PartSet, part_set

# rough output sizes for --dry-run, in tokens: a global answer, and one sentence per slot
EST_GLOBAL_OUTPUT = 90
EST_SLOT_OUTPUT = 22


@dataclass(frozen=True)
class Selection:
    """The classes to describe and how; ``note`` is printed when the choice may surprise."""

    dataset: str
    classes: tuple[ClassEntry, ...]
    parts: PartSet
    note: str | None = None


def select_classes(
    dataset: str | None = None,
    classes_file: Path | None = None,
    protocol: str | None = None,
    include_novel: bool = False,
    class_ids: list[int] | None = None,
    parts: str = "parts6",
    layout: str | None = None,
    data: Path | None = None,
) -> Selection:
    """Resolve --dataset / --classes / --data / --protocol / --class / --parts into a :class:`Selection`.

    ``data``, a prepared folder, gives the dataset name and the class list the trainer will
    read (docs/GUIDE.md, "Your own data"), so the texts land where training looks for them.
    """
    from crossglg.vocab.protocols import load_protocol

    if data is not None:
        if dataset is not None or classes_file is not None:
            raise UserError(f"--data {data} names the dataset and its classes; drop --dataset and --classes")
        class_list, layout = prepared_classes(data, layout)
        dataset = class_list.name
    proto = load_protocol(protocol) if protocol else None  # a name or a TOML file
    if dataset is None:
        if proto is not None:
            dataset = proto.dataset
        elif classes_file is not None:
            dataset = None
        else:
            raise UserError(
                "name the classes: --dataset NAME (built-in list), --classes FILE or --protocol NAME"
            )
    if proto is not None and dataset != proto.dataset and proto.dataset != "generic":
        raise UserError(f"--protocol {protocol} belongs to dataset {proto.dataset}, not {dataset}")
    if data is None and classes_file is not None:
        class_list = load_classes(Path(classes_file))
        dataset = dataset or class_list.name
        _check_utf8_name(dataset, classes_file)
    elif data is None:
        assert dataset is not None
        if dataset not in builtin_names():
            raise UserError(
                f"--dataset {dataset}: not a built-in class list ({', '.join(builtin_names())}); for your "
                "own data pass its prepared folder, `--data PREPARED_FOLDER`, or a class list, "
                f"`--classes FILE --dataset {dataset}`"
            )
        class_list = load_classes(dataset)
    if layout is None and dataset in DATASET_LAYOUTS:
        layout = dataset_layout(dataset)
    pset = part_set(parts, layout)

    note = None
    if proto is not None:
        allowed = set(proto.base_class_ids) | (set(proto.novel_class_ids) if include_novel else set())
        if class_ids:
            novel = [c for c in class_ids if c not in allowed]
            if novel:
                raise UserError(
                    f"class(es) {', '.join(map(str, novel))} are novel classes of protocol {proto.name}: "
                    "text for them would leak into training; pass --include-novel if you really mean it"
                )
        else:
            class_ids = [c.class_id for c in class_list.classes if c.class_id in allowed]
    elif not class_ids:
        note = (
            f"no --protocol given: describing all {len(class_list.classes)} classes of {class_list.name}; "
            "pass --protocol NAME to restrict to a one-shot protocol's base classes"
        )
    chosen = class_list.select(class_ids) if class_ids else class_list.classes
    return Selection(dataset=str(dataset), classes=tuple(chosen), parts=pset, note=note)


def _check_utf8_name(dataset: str, classes_file: Path) -> None:
    """Refuse a dataset name taken from a file name that is not UTF-8 (``caf\\xe9.txt``).

    The name is stored with every text; SQLite cannot store its lone surrogates, so the first
    commit of the run failed after the answers were paid for, and lost them.
    """
    try:
        dataset.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(
            f"--classes {classes_file}: the file name gives the dataset name, and it is not valid "
            "UTF-8 text; rename the file or name the dataset with --dataset NAME"
        ) from None


def prepared_classes(data: Path, layout: str | None = None) -> tuple[ClassList, str]:
    """The class list (ids = label + 1) and skeleton layout of a prepared folder."""
    from crossglg.data.prepared import open_prepared

    prepared = open_prepared(data)
    entries = tuple(ClassEntry(i + 1, name) for i, name in enumerate(prepared.class_names))
    if not entries:
        raise UserError(f"{data}: the prepared dataset has no class names")
    return ClassList(name=prepared.dataset, source=str(data), classes=entries), layout or prepared.layout


@dataclass(frozen=True)
class GenParams:
    """Output-affecting settings: those the backend sends go into every cache key.

    A reasoning model is sent no temperature or top_p, so they stay out of its keys
    (crossglg.textgen.backends.families).
    """

    temperature: float = 0.2  # the paper: temperature ≤ 0.2, outputs cached
    top_p: float = 1.0
    max_tokens: int = 800
    reasoning_effort: str | None = None


@dataclass
class PlannedRequest:
    row: RequestRow
    chat: ChatRequest
    answer_kind: str  # "global", "part" or "joint": what parse/validate expect
    slots: tuple[str, ...]
    targets: list[ItemTarget]
    label: str
    est_input_tokens: int
    est_output_tokens: int


@dataclass
class Plan:
    requests: list[PlannedRequest]
    templates: tuple[Template, ...]
    source: str
    extra: dict[str, Any] = field(default_factory=dict)
    accept_degenerate: bool = False  # a cached degenerate answer counts as done

    @property
    def keys(self) -> list[str]:
        return [p.row.request_key for p in self.requests]


def estimate_input_tokens(messages: list[dict[str, str]]) -> int:
    """About four characters a token plus a few per message: for --dry-run and the --tpm limit."""
    return sum(len(m["content"]) for m in messages) // 4 + 4 * len(messages)


def build_plan(
    selection: Selection,
    backend: Backend,
    params: GenParams,
    samples: int = 1,
    salt: str | None = None,
    templates: tuple[Template, Template] | None = None,
    accept_degenerate: bool = False,
    context: PromptContext | None = None,
) -> Plan:
    """Every (class × prompt × sample) request with its key; requests with equal keys merge targets.

    ``context`` fills the own templates' ``$examples`` and ``$dataset_description``
    (:mod:`crossglg.prompts.custom`); the key is computed from the messages as rendered.
    """
    if samples < 1:
        raise UserError("--samples must be >= 1")
    g_tpl, l_tpl = templates or (load_template("global"), load_template("local"))
    context = context or PromptContext()
    backend_model = f"{backend.source}@{backend.revision}" if backend.revision else backend.source
    pset = selection.parts
    by_key: dict[str, PlannedRequest] = {}
    for entry in selection.classes:
        for tpl, kind, slots in ((g_tpl, "global", ()), (l_tpl, pset.kind, pset.slots)):
            messages = context.render(tpl, entry.name, slots)
            schema = answer_schema(kind, slots)
            key_params = {
                **backend.sampling_params(
                    params.temperature, params.top_p, params.max_tokens, params.reasoning_effort
                ),
                "response_format": backend.json_mode,
                "schema": schema,
            }
            for i in range(samples):
                key = request_key(backend_model, messages, key_params, i, salt)
                target = ItemTarget(
                    selection.dataset,
                    entry.class_id,
                    entry.name,
                    kind,
                    i,
                    backend.source,
                    slots,
                    accept_degenerate,
                )
                if key in by_key:
                    by_key[key].targets.append(target)
                    continue
                seed = sample_seed(key, i)
                by_key[key] = PlannedRequest(
                    row=RequestRow(
                        request_key=key,
                        backend=backend.kind,
                        model=backend.model,
                        messages=messages,
                        params=key_params,
                        sample_index=i,
                        seed=seed,
                        schema=schema,
                        prompt_id=tpl.prompt_id,
                        model_revision=backend.recorded_revision or None,
                    ),
                    chat=ChatRequest(
                        messages=messages,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        max_tokens=params.max_tokens,
                        schema=schema,
                        schema_name=f"{tpl.name}_answer",
                        seed=seed,
                        reasoning_effort=params.reasoning_effort,
                    ),
                    answer_kind=kind,
                    slots=slots,
                    targets=[target],
                    label=f"{selection.dataset} class {entry.class_id} ({entry.name}) {tpl.name} #{i}",
                    est_input_tokens=estimate_input_tokens(messages),
                    est_output_tokens=EST_GLOBAL_OUTPUT if kind == "global" else EST_SLOT_OUTPUT * len(slots),
                )
    return Plan(
        requests=list(by_key.values()),
        templates=(g_tpl, l_tpl),
        source=backend.source,
        accept_degenerate=accept_degenerate,
    )


def existing_answers(plan: Plan, cache_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(key → status of cached answers, key → the submitted batch that owes it)."""
    if not cache_path.exists():
        return {}, {}
    with open_cache(cache_path, readonly=True) as cache:
        return cache.lookup(plan.keys), batches.pending_keys(cache, plan.keys)


def split_todo(
    plan: Plan, found: dict[str, str], force: bool
) -> tuple[list[PlannedRequest], list[PlannedRequest]]:
    """(cache hits, to send): resume sends what is missing or not ``ok``; ``--force`` sends all.

    With ``--accept-degenerate`` a cached ``degenerate`` answer is done too.
    """
    if force:
        return [], list(plan.requests)
    done = ("ok", "degenerate") if plan.accept_degenerate else ("ok",)
    hits = [p for p in plan.requests if found.get(p.row.request_key) in done]
    todo = [p for p in plan.requests if found.get(p.row.request_key) not in done]
    return hits, todo
