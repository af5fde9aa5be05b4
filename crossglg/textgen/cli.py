"""The ``crossglg-text`` command: generate, inspect, export and import LLM descriptions.

Only Typer and the standard library are imported at module level so ``--help`` stays fast;
backends, the cache and asyncio machinery load inside the commands that need them.
"""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from crossglg.cli_numbers import real
from crossglg.cli_support import run_app
from crossglg.errors import UserError
from crossglg.textgen import cli_options as opts
from crossglg.textgen.cli_options import CacheOpt, JsonOpt, PricesOpt, new_app
from crossglg.textgen.cli_options import emit_json as _emit_json
from crossglg.textgen.llm_backends import backend_names

app = new_app(
    "crossglg-text",
    "Generate, cache and inspect LLM descriptions of action classes (one cache.db, paid for once).",
)

DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        "-d",
        help="Built-in class list: ntu60, ntu120, pku-mmd, msr-action3d, utkinect, synthetic.",
    ),
]
ClassesOpt = Annotated[
    Path | None,
    typer.Option("--classes", help="Your own class list: .txt (one name a line) or .tsv/.csv (id,name)."),
]
PartsOpt = Annotated[
    str,
    typer.Option("--parts", help="Slots of the local prompt: parts6, joints, or a file of part/joint names."),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="A prepared data folder (crossglg data prepare): its dataset name and class names, so the "
        "texts are stored where `crossglg train --data` looks for them.",
    ),
]
LayoutOpt = Annotated[
    str | None,
    typer.Option("--layout", help="Skeleton layout for --parts joints/FILE with a custom class list."),
]


class JsonMode(str, Enum):
    auto = "auto"
    json_schema = "json_schema"
    json_object = "json_object"
    json_object_schema = "json_object_schema"
    prompt = "prompt"


class ReasoningEffort(str, Enum):
    none = "none"
    minimal = "minimal"
    low = "low"
    medium = "medium"
    high = "high"
    xhigh = "xhigh"


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


# C0/C1 controls (ESC starts terminal escape sequences) and bidirectional overrides
_UNPRINTABLE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}
_UNPRINTABLE.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def printable(text: Any) -> str:
    """``text`` safe for a terminal: control characters shown as ``\\x1b``, never executed.

    Answers and imported texts come from outside; an ESC sequence in one could rewrite the
    screen or the window title when `show` prints it.
    """
    return str(text).translate(_UNPRINTABLE)


def _progress_bar(description: str) -> tuple[Any, Any, Any]:
    """(context manager, on_start, on_done) for a rich bar on a terminal; no-ops otherwise.

    rich.progress is only imported for a terminal: it costs ~0.1 s, a tenth of the budget of a
    fully cached rerun.
    """
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext(), None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(description, total=0)
    return progress, lambda n: progress.update(task, total=n), lambda p, status: progress.advance(task)


@app.command()
def generate(
    dataset: DatasetOpt = None,
    classes: ClassesOpt = None,
    data: DataOpt = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            help="One-shot protocol, a name or a TOML file: only its base classes get text (novel ones are refused)."
        ),
    ] = None,
    include_novel: Annotated[
        bool,
        typer.Option(
            "--include-novel", help="Also describe the protocol's novel classes (leaks into training!)."
        ),
    ] = False,
    class_ids: Annotated[
        list[int] | None, typer.Option("--class", "-c", min=1, help="Only these class ids (repeatable).")
    ] = None,
    parts: PartsOpt = "parts6",
    layout: LayoutOpt = None,
    llm: Annotated[
        str,
        typer.Option(
            help="Model: 'local' (embedded SmolLM2, the default), a .gguf path, or a model name "
            "(gpt-4o, or whatever --base-url serves)."
        ),
    ] = "local",
    backend: Annotated[
        str,
        typer.Option(
            help=f"{', '.join(backend_names())}: auto picks local (llama.cpp) for 'local' or a .gguf, server "
            "with --base-url, else openai (hosted); vllm runs in-process on a GPU."
        ),
    ] = "auto",
    base_url: Annotated[
        str | None,
        typer.Option(help="An OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp)."),
    ] = None,
    json_mode: Annotated[
        JsonMode,
        typer.Option(
            help="Structured output: auto asks a --base-url server once which form it accepts (and "
            "remembers it in the cache) and picks by model for hosted ones; or force one: json_schema, "
            "json_object_schema (llama.cpp's servers), json_object, prompt."
        ),
    ] = JsonMode.auto,
    temperature: Annotated[
        float,
        typer.Option(callback=real(0.0, 2.0), help="Sampling temperature, 0–2 (part of the cache key)."),
    ] = 0.2,
    top_p: Annotated[
        float,
        typer.Option(
            callback=real(0.0, 1.0, low_open=True),
            help="Nucleus sampling, (0, 1] (part of the cache key).",
        ),
    ] = 1.0,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1_000_000,
            help="Longest answer in tokens (part of the cache key); default 800, 8000 for reasoning models "
            "(o1/o3/o4, gpt-5), whose reasoning tokens count against it.",
        ),
    ] = None,
    reasoning_effort: Annotated[
        ReasoningEffort | None,
        typer.Option(
            help="How hard a reasoning model thinks (sent as reasoning_effort, part of the cache key); "
            "hosted and served models only.",
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option(min=1, max=1000, help="Answers per prompt; each sample gets its own key and seed.")
    ] = 1,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=10_000,
            help="Requests in flight at once (the embedded model always runs one at a time).",
        ),
    ] = 16,
    timeout: Annotated[
        float,
        typer.Option(
            callback=real(0.0, 86400.0, low_open=True),
            help="Seconds before one HTTP request is abandoned and retried.",
        ),
    ] = 120.0,
    rpm: Annotated[
        int,
        typer.Option(
            min=0,
            help="Send at most this many requests per minute (your account's RPM limit); 0 = no limit.",
        ),
    ] = 0,
    tpm: Annotated[
        int,
        typer.Option(
            min=0,
            help="Send at most this many tokens per minute (your account's TPM limit), counting each "
            "request as its prompt (characters / 4) plus --max-tokens; 0 = no limit.",
        ),
    ] = 0,
    disk_full_wait: Annotated[
        float,
        typer.Option(
            callback=real(0.0, 86400.0),
            help="When the disk fills: seconds to wait for space before answers received but not yet "
            "stored are given up (no new requests are sent meanwhile).",
        ),
    ] = 300.0,
    cache: CacheOpt = Path("cache.db"),
    force: Annotated[
        bool, typer.Option("--force", help="Send every request again, even those cached as ok.")
    ] = False,
    cache_salt: Annotated[
        str | None,
        typer.Option(help="Any string: new keys, so everything regenerates; old answers stay in the file."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show requests to send, cache hits and estimated tokens; send nothing."
        ),
    ] = False,
    accept_degenerate: Annotated[
        bool,
        typer.Option(
            "--accept-degenerate",
            help="Keep answers that say nothing (status degenerate) whole in the text bank, without a "
            "repair turn and without failing the run: for trying the pipeline with a tiny model only.",
        ),
    ] = False,
    template: opts.TemplateOpt = None,
    templates: opts.TemplatesDirOpt = None,
    examples: opts.ExamplesOpt = None,
    dataset_description: opts.DescriptionOpt = None,
    dataset_description_file: opts.DescriptionFileOpt = None,
    tensor_parallel_size: opts.TensorParallelOpt = None,
    max_model_len: opts.MaxModelLenOpt = None,
    gpu_memory_utilization: opts.GpuMemoryOpt = None,
    revision: opts.RevisionOpt = None,
    allow_download: opts.AllowDownloadOpt = False,
    prices: PricesOpt = None,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Hosted OpenAI only: submit the requests as one Batch API job (half price, done within 24 h) "
            "instead of sending them; `crossglg-text batch collect` stores the answers.",
        ),
    ] = False,
    batch_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the requests as a JSONL file for `vllm run-batch -i FILE` and send nothing; "
            "`crossglg-text batch import OUTPUT` stores its answers.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate the global and local descriptions of every selected class; only missing ones are sent."""
    from dataclasses import asdict

    from crossglg.prompts.custom import load_prompts
    from crossglg.textgen.backends import EngineOptions, make_backend
    from crossglg.textgen.generate import dry_run as plan_dry_run
    from crossglg.textgen.generate import generate as run_generate
    from crossglg.textgen.negotiate import settle_mode, use_remembered_mode
    from crossglg.textgen.plan import GenParams, build_plan, select_classes
    from crossglg.textgen.prices import load_prices
    from crossglg.textgen.runner import RunSettings

    t0 = time.perf_counter()
    own = load_prompts(template, templates, examples, dataset_description, dataset_description_file)
    selection = select_classes(dataset, classes, protocol, include_novel, class_ids, parts, layout, data)
    if selection.note and not as_json:
        print(f"note: {selection.note}", file=sys.stderr)
    engine = EngineOptions(
        tensor_parallel_size, max_model_len, gpu_memory_utilization, revision, allow_download
    )
    chosen = make_backend(
        llm, backend, base_url, None if json_mode is JsonMode.auto else json_mode.value, engine
    )
    effort = reasoning_effort.value if reasoning_effort is not None else None
    if effort is not None and chosen.kind not in ("openai", "server"):
        raise UserError(
            "--reasoning-effort is sent to hosted and served models only (--llm NAME [--base-url URL])"
        )
    for note in (chosen.endpoint_note, chosen.family_note):
        if note and not as_json:
            print(note, file=sys.stderr)
    max_tokens = max_tokens or chosen.default_max_tokens
    use_remembered_mode(chosen, cache, quiet=as_json)

    def plan_for() -> Any:
        return build_plan(
            selection,
            chosen,
            GenParams(temperature, top_p, max_tokens, effort),
            samples,
            cache_salt,
            own.templates,
            accept_degenerate=accept_degenerate,
            context=own.context,
        )

    price = load_prices(prices).lookup(chosen.source)
    if batch and batch_file is not None:
        raise UserError("--batch submits to OpenAI, --batch-file writes a file for vllm run-batch: pick one")
    if dry_run:
        plan = plan_for()
        if chosen.negotiable and not as_json:  # asking the server would be sending something
            print(
                f"note: {getattr(chosen, 'base_url', base_url)} has not been asked which structured output "
                "it accepts; this dry run assumes json_schema, the first form a real run tries",
                file=sys.stderr,
            )
        report = plan_dry_run(plan, cache, force, price, batch=batch)
        if as_json:
            _emit_json(report.as_dict())
        else:
            dollars = "" if report.est_cost_usd is None else f", ~${report.est_cost_usd:.4f}"
            print(
                f"{report.source}: {report.planned} requests planned, {report.cached} cached, "
                f"{report.to_send} to send (~{report.est_input_tokens} input + ~{report.est_output_tokens} "
                f"output tokens{dollars}); nothing sent (--dry-run)"
            )
            print(printable(f"  {report.price_note}"))
        return
    if batch or batch_file is not None:
        from crossglg.textgen.batch_cli import submit_from_generate

        submit_from_generate(plan_for(), chosen, cache, force, batch_file, price, as_json)
        return

    plan = settle_mode(chosen, plan_for, cache, force, timeout, quiet=as_json)
    bar, on_start, on_done = _progress_bar(f"generating with {chosen.source}")
    run_args = {
        "dataset": selection.dataset,
        "classes": classes,
        "data": data,
        "protocol": protocol,
        "include_novel": include_novel,
        "class_ids": class_ids,
        "parts": parts,
        "llm": llm,
        "backend": chosen.kind,
        "json_mode": chosen.json_mode,
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "reasoning_effort": effort,
        "samples": samples,
        "force": force,
        "cache_salt": cache_salt,
        "accept_degenerate": accept_degenerate,
        "prompts": own.describe(),
        "engine": asdict(engine) if chosen.kind == "vllm" else None,
    }
    with bar:
        summary = run_generate(
            plan,
            chosen,
            cache,
            RunSettings(
                concurrency=concurrency,
                timeout=timeout,
                rpm=rpm,
                tpm=tpm,
                disk_full_wait=disk_full_wait,
                price=price,
            ),
            run_args,
            force=force,
            on_start=on_start,
            on_done=on_done,
        )
    summary.elapsed_s = time.perf_counter() - t0
    if as_json:
        _emit_json({"source": chosen.source, "cache": str(cache), **summary.as_dict()})
    else:
        print(
            f"{chosen.source}: sent {summary.sent}, cached {summary.cached}, failed {summary.failed}"
            + (f", answered by a concurrent run {summary.shared}" if summary.shared else "")
            + (f", not sent {summary.not_sent}" if summary.not_sent else "")
            + (f", in a submitted batch {summary.in_batch}" if summary.in_batch else "")
            + f", tokens {summary.tokens_input}+{summary.tokens_output}"
            + ("" if summary.cost_usd is None else f", ${summary.cost_usd:.4f}")
            + f", {summary.elapsed_s:.2f} s → {cache}"
        )
        for line in summary.errors[:10]:
            print(f"  {printable(line)}", file=sys.stderr)
    if not summary.ok:
        raise typer.Exit(1)


@app.command()
def invalidate(
    model: Annotated[
        str | None,
        typer.Option(
            help="Answers of this model: backend:model as `show` prints it (openai:gpt-4o), or the model id."
        ),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            help="Answers to this prompt: global, local, a version as `prompts` prints it "
            "(global@1a2b3c4d5e6f), or a prompt-id prefix."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Answers completed at or after this ISO time: 2026-01-31, 2026-01-31T12:00:00Z, "
            "2026-01-31T14:00+02:00 (no zone = UTC)."
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Answers with this status: ok, failed, refused, truncated, invalid_json, incomplete, degenerate."
        ),
    ] = None,
    cache: CacheOpt = Path("cache.db"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the answers that would be forgotten; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Forget cached answers so the next `generate` asks for them again.

    Filters combine with AND; at least one is needed. Requests and attempts stay as history.
    """
    from crossglg.cache import open_cache

    filters = {"model": model, "prompt": prompt, "since": since, "status": status}
    chosen = {k: v for k, v in filters.items() if v is not None}
    if not chosen:
        raise UserError("say which answers to forget: --model, --prompt, --since and/or --status")
    # count through a read-only connection first: a missing, empty or foreign file and a bad
    # filter stop here, before anything could create or change the file
    with open_cache(cache, readonly=True) as store:
        try:
            n = store.invalidate(**filters, dry_run=True)
        except ValueError as err:
            raise UserError(f"{cache}: {err}") from None
    if n and not dry_run:
        with open_cache(cache) as store, store.run("invalidate", chosen) as counters:
            n = counters.n_requests = store.invalidate(**filters)
    if as_json:
        _emit_json({"cache": str(cache), "dry_run": dry_run, "invalidated": n, "filters": chosen})
        return
    matched = ", ".join(f"{k}={v}" for k, v in chosen.items())
    if not n:
        print(f"{cache}: no answers match {matched}; nothing changed")
    elif dry_run:
        print(f"{cache}: {n} answer(s) match {matched} and would be forgotten; nothing changed (--dry-run)")
    else:
        print(f"{cache}: {n} answer(s) matching {matched} forgotten; the next generate asks for them again")


@app.command()
def prompts(
    dataset: DatasetOpt = None,
    classes: ClassesOpt = None,
    data: DataOpt = None,
    class_id: Annotated[
        int, typer.Option("--class", "-c", min=1, help="The class id whose prompts to print.")
    ] = 1,
    parts: PartsOpt = "parts6",
    layout: LayoutOpt = None,
    template: opts.TemplateOpt = None,
    templates: opts.TemplatesDirOpt = None,
    examples: opts.ExamplesOpt = None,
    dataset_description: opts.DescriptionOpt = None,
    dataset_description_file: opts.DescriptionFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the templates in use and the messages (global and local) they render for one class."""
    from crossglg.prompts import answer_schema
    from crossglg.prompts.custom import load_prompts
    from crossglg.textgen.plan import select_classes

    own = load_prompts(template, templates, examples, dataset_description, dataset_description_file)
    selection = select_classes(dataset, classes, None, False, [class_id], parts, layout, data)
    entry, pset = selection.classes[0], selection.parts
    out = []
    for tpl, kind, slots in zip(own.templates, ("global", pset.kind), ((), pset.slots), strict=True):
        out.append(
            {
                "prompt": tpl.name,
                "version": tpl.version_label,
                "template_file": tpl.source,
                "template": tpl.text,
                "messages": own.context.render(tpl, entry.name, slots),
                "schema": answer_schema(kind, slots),
            }
        )
    if as_json:
        _emit_json(
            {
                "dataset": selection.dataset,
                "class_id": entry.class_id,
                "class_name": entry.name,
                "prompts": out,
            }
        )
        return
    print(f"# {selection.dataset} class {entry.class_id}: {entry.name}")
    for prompt in out:
        print(f"\n## {prompt['prompt']} ({prompt['version']}, template {prompt['template_file']})")
        for message in prompt["messages"]:
            print(f"[{message['role']}]\n{message['content']}")


@app.command()
def show(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset (or class-list name) the texts belong to.")
    ],
    class_id: Annotated[int, typer.Option("--class", "-c", min=1, help="The class id to show.")],
    cache: CacheOpt = Path("cache.db"),
    source: Annotated[
        str | None,
        typer.Option(help="Only texts from this source, e.g. openai:gpt-4o or import:handwritten."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one class's texts with their provenance (source, prompt version, status, run)."""
    from crossglg.cache import open_cache
    from crossglg.textgen.items import unused_answers

    with open_cache(cache, readonly=True) as store:
        rows = store.show(dataset, class_id, source)
        name = rows[0]["class_name"] if rows else _builtin_class_name(dataset, class_id)
        unused = [a for a in (unused_answers(store, name) if name else []) if source in (None, a["source"])]
    if as_json:
        _emit_json(rows)
        return
    if not rows and not unused:
        raise UserError(
            f"{cache}: no texts for {dataset} class {class_id}; run `crossglg-text generate -d {dataset}`"
        )
    print(printable(f"# {dataset} class {class_id}: {name}"))
    for row in rows:
        slot = row["slot"] or "global"
        print(
            printable(
                f"\n[{row['source']} · {row['kind']}:{slot} · sample {row['sample_index']} · {row['status']} · "
                f"prompt {row['prompt'] or '-'} · run {row['run_id'] or '-'}]"
            )
        )
        print(printable(row["text"]))
        if row["key_body_parts"]:
            print(printable(f"key body parts: {', '.join(row['key_body_parts'])}"))
    for answer in unused:  # degenerate, incomplete, failed: what was wrong, and what it said
        print(printable(f"\n[{answer['source']} · {answer['prompt'] or '-'} answer · {answer['status']}]"))
        for problem in answer["problems"]:
            print(printable(f"  - {problem}"))
        print(printable(f"  raw: {(answer['raw_text'] or '')[:300]}"))


def _builtin_class_name(dataset: str, class_id: int) -> str | None:
    """The name of a built-in dataset's class, to find its answers when none left a text."""
    from crossglg.vocab.classes import builtin_names, load_classes

    if dataset not in builtin_names():
        return None
    try:
        return load_classes(dataset).get(class_id).name
    except UserError:
        return None


@app.command()
def export(
    out: Annotated[
        Path, typer.Argument(help="Output file (never the cache itself); '-' writes to stdout.")
    ] = Path("-"),
    cache: CacheOpt = Path("cache.db"),
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (re-importable) or csv.")
    ] = ExportFormat.jsonl,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Only this dataset.")] = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source (backend:model or import:label).")
    ] = None,
) -> None:
    """Write every stored text with its provenance as JSONL or CSV (to a new file, renamed when complete)."""
    from crossglg.cache import open_cache
    from crossglg.textgen.export import check_output
    from crossglg.textgen.export import export as write_export

    if str(out) != "-":
        check_output(out, cache)  # before the cache is opened: `export cache.db` must not touch it
    with open_cache(cache, readonly=True) as store:
        n = write_export(store, out, fmt is ExportFormat.csv, dataset=dataset, source=source)
    if str(out) != "-":
        print(f"wrote {n} texts to {out}", file=sys.stderr)


@app.command("import")
def import_(
    file: Annotated[
        Path | None,
        typer.Argument(help="JSONL: one {dataset, class_id, text, [kind, slot, ...]} per line."),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(help="One word naming where the texts come from; source becomes import:LABEL."),
    ] = None,
    pack: Annotated[
        str | None,
        typer.Option(
            help="A curated pack shipped with crossglg instead of a file (`crossglg-text packs` lists "
            "them); source becomes pack:NAME@VERSION."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A prepared data folder: every row must be of its dataset and classes (class_name "
            "may then be left out).",
        ),
    ] = None,
    cache: CacheOpt = Path("cache.db"),
    as_json: JsonOpt = False,
) -> None:
    """Store descriptions written elsewhere (by hand, another tool, a curated pack) to use like generated ones."""
    from crossglg.cache import open_cache, read_import_jsonl

    if pack is not None:
        from crossglg.textgen.packs import get_pack, import_records

        if file is not None or label is not None or data is not None:
            raise UserError("--pack imports a shipped pack: give no FILE, --label or --data with it")
        chosen = get_pack(pack)
        records, prefix, label, file = import_records(chosen), "pack:", chosen.source[5:], chosen.path
    else:
        if file is None or label is None:
            raise UserError(
                "name what to import: FILE --label WORD, or --pack NAME (`crossglg-text packs` lists them)"
            )
        label = label.strip()
        if not label or not label.isprintable() or any(ch.isspace() for ch in label):
            raise UserError(f"--label must be one printable word, got {label!r}")
        names = None
        if data is not None:
            from crossglg.textgen.plan import prepared_classes

            class_list, _ = prepared_classes(data)
            names = (class_list.name, {c.class_id: c.name for c in class_list.classes})
        # the whole file is checked first
        records, prefix = read_import_jsonl(file, *(names or ())), "import:"
    with open_cache(cache) as store, store.run("import", {"file": file, "label": label}) as counters:
        n = counters.n_requests = store.import_texts(
            records, label=label, run_id=counters.run_id, prefix=prefix
        )
    if as_json:
        _emit_json({"imported": n, "source": f"{prefix}{label}", "cache": str(cache)})
    else:
        print(printable(f"imported {n} texts from {file} as {prefix}{label} into {cache}"))


@app.command()
def packs(as_json: JsonOpt = False) -> None:
    """List the curated description packs shipped with crossglg (import one with `import --pack NAME`)."""
    from crossglg.textgen.packs import PACKS, pack_records

    rows = []
    for p in PACKS.values():
        records = pack_records(p)
        rows.append(
            {
                "name": p.name,
                "version": p.version,
                "source": p.source,
                "datasets": [p.dataset, *p.also],
                "parts": p.parts,
                "classes": len({r.class_id for r in records}),
                "texts": len(records),
                "about": p.about,
            }
        )
    if as_json:
        _emit_json(rows)
        return
    for r in rows:
        print(
            f"{r['name']:<14} {r['source']:<24} {r['classes']:>4} classes {r['texts']:>5} texts  "
            f"{r['parts']:<7} {r['about']}"
        )
    print("import one with: crossglg-text import --pack NAME")


@app.command()
def stats(cache: CacheOpt = Path("cache.db"), as_json: JsonOpt = False) -> None:
    """Summarise the cache: runs, requests by status, texts per dataset and source, tokens."""
    from crossglg.cache import open_cache
    from crossglg.embeddings.cli import coverage_rows, format_coverage

    with open_cache(cache, readonly=True) as store:
        info = store.stats()
        info["embedding_coverage"] = coverage_rows(store)
    if as_json:
        _emit_json(info)
        return
    print(printable(f"{info['path']}: {info['size_bytes'] / 1e6:.2f} MB, schema {info['schema_version']}"))
    print(
        f"runs {info['runs']}, requests {info['requests']}, attempts {info['attempts']}, texts {info['texts']}"
    )
    statuses = ", ".join(f"{k} {v}" for k, v in info["generations"].items()) or "none"
    print(f"generations: {statuses}")
    tokens = info["tokens"]
    reasoning = f" ({tokens['reasoning']} of them reasoning)" if tokens["reasoning"] else ""
    print(f"tokens: {tokens['input']} input, {tokens['output']} output{reasoning}")
    for line in format_cost(info["cost"]):
        print(printable(line))
    for item in info["items"]:
        print(
            printable(
                f"  {item['dataset']:<14} {item['source']:<44} {item['kind']:<6} {item['classes']:>4} classes {item['texts']:>6} texts"
            )
        )
    print(f"embedders {info['embedders']}, embeddings {info['embeddings']}")
    print(printable("\n".join(format_coverage(info["embedding_coverage"]))))


def format_cost(cost: dict[str, Any]) -> list[str]:
    """The cost lines of `stats`: total, then per model and per run; unpriced answers said plainly."""

    def dollars(total: float, answers: int, priced: int) -> str:
        if answers and not priced:
            return "price unknown"
        missing = answers - priced
        return f"${total:.4f}" + (f" (+{missing} answers with no known price)" if missing else "")

    by_model, by_run = cost["by_model"], cost["by_run"]
    answers = sum(m["answers"] for m in by_model)
    lines = [f"cost: {dollars(cost['total_usd'], answers, answers - cost['unpriced_answers'])}"]
    for m in by_model:
        lines.append(
            f"  {m['source']:<44} {m['answers']:>6} answers  {dollars(m['cost_usd'], m['answers'], m['priced'])}"
        )
    for r in by_run:
        lines.append(
            f"  run {r['run_id']} {r['command']:<13} {r['answers']:>6} answers  "
            f"{dollars(r['cost_usd'], r['answers'], r['priced'])}"
        )
    return lines


def _register_extensions() -> None:
    """Commands kept in their own modules (``convert-gguf``, ``batch``) and other subpackages (``embed``)."""
    from crossglg.textgen.batch_cli import batch_app
    from crossglg.textgen.convert_gguf import register as register_convert

    register_convert(app)
    app.add_typer(batch_app, name="batch")
    try:
        from crossglg.embeddings.cli import register
    except ModuleNotFoundError as err:
        if err.name not in ("crossglg.embeddings.cli", "crossglg.embeddings"):
            raise
        return
    register(app)


_register_extensions()


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
