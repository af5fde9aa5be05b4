"""``crossglg-text generate`` and ``prompts``: the texts asked of an LLM, and asking for them.

Only Typer and the standard library are imported at module level so ``--help`` stays fast;
backends, the cache and asyncio machinery load inside the commands that need them. The
``crossglg-text`` app is assembled in crossglg/text_cli.py.
"""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from crossglg.cli_numbers import real
from crossglg.cli_support import printable
from crossglg.errors import UserError
from crossglg.textgen import cli_options as opts
from crossglg.textgen.cli_options import (
    CacheOpt,
    ClassesOpt,
    DataOpt,
    DatasetOpt,
    JsonOpt,
    LayoutOpt,
    PartsOpt,
    PricesOpt,
)
from crossglg.textgen.cli_options import emit_json as _emit_json
from crossglg.textgen.llm_backends import backend_names


def register(app: typer.Typer) -> None:
    """Attach ``generate`` and ``prompts`` to the ``crossglg-text`` app."""
    app.command("generate")(generate)
    app.command("prompts")(prompts)


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
    if batch_file is not None:  # before the cache records a batch that could then not be written
        from crossglg.outputs import spares_cache, writable_file

        writable_file(batch_file, "--batch-file")
        spares_cache(batch_file, cache, "--batch-file")
    if dry_run:
        plan = plan_for()
        if chosen.negotiable and not as_json:  # asking the server would be sending something
            print(
                f"note: {getattr(chosen, 'base_url', base_url)} has not been asked which structured output "
                "it accepts; this dry run assumes json_schema, the first form a real run tries",
                file=sys.stderr,
            )
        _print_dry_run(plan_dry_run(plan, cache, force, price, batch=batch), as_json)
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
    _print_summary(summary, chosen.source, cache, as_json)
    if not summary.ok:
        raise typer.Exit(1)


def _print_dry_run(report: Any, as_json: bool) -> None:
    """What ``generate --dry-run`` found: requests planned, cached and to send, tokens, price."""
    if as_json:
        _emit_json(report.as_dict())
        return
    dollars = "" if report.est_cost_usd is None else f", ~${report.est_cost_usd:.4f}"
    print(
        f"{report.source}: {report.planned} requests planned, {report.cached} cached, "
        f"{report.to_send} to send (~{report.est_input_tokens} input + ~{report.est_output_tokens} "
        f"output tokens{dollars}); nothing sent (--dry-run)"
    )
    print(printable(f"  {report.price_note}"))


def _print_summary(summary: Any, source: str, cache: Path, as_json: bool) -> None:
    """The last line of a run (the first ten errors on stderr), or its ``--json`` object."""
    if as_json:
        _emit_json({"source": source, "cache": str(cache), **summary.as_dict()})
        return
    print(
        f"{source}: sent {summary.sent}, cached {summary.cached}, failed {summary.failed}"
        + (f", answered by a concurrent run {summary.shared}" if summary.shared else "")
        + (f", not sent {summary.not_sent}" if summary.not_sent else "")
        + (f", in a submitted batch {summary.in_batch}" if summary.in_batch else "")
        + f", tokens {summary.tokens_input}+{summary.tokens_output}"
        + ("" if summary.cost_usd is None else f", ${summary.cost_usd:.4f}")
        + f", {summary.elapsed_s:.2f} s → {cache}"
    )
    for line in summary.errors[:10]:
        print(f"  {printable(line)}", file=sys.stderr)


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
