"""``crossglg-text stats | show | export | import | packs | invalidate``: the text cache's own commands.

They read, fill from outside and prune the cache (docs/TEXTGEN.md, docs/CACHE.md); none talks to
an LLM. Only Typer and the standard library are imported at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from crossglg.cli_support import printable
from crossglg.errors import UserError
from crossglg.textgen.cli_options import CacheOpt, JsonOpt
from crossglg.textgen.cli_options import emit_json as _emit_json


def register(app: typer.Typer) -> None:
    """Attach the cache commands to the ``crossglg-text`` app."""
    app.command("invalidate")(invalidate)
    app.command("show")(show)
    app.command("export")(export)
    app.command("import")(import_)
    app.command("packs")(packs)
    app.command("stats")(stats)


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


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


def show(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset (or class-list name) the texts belong to.")
    ],
    class_id: Annotated[
        int,
        typer.Option("--class", "-c", min=1, max=2**63 - 1, help="The class id to show (a SQLite integer)."),
    ],
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

    check_output(out, cache)  # before the cache is opened: `export cache.db` must not touch it
    with open_cache(cache, readonly=True) as store:
        n = write_export(store, out, fmt is ExportFormat.csv, dataset=dataset, source=source)
    if str(out) != "-":
        print(f"wrote {n} texts to {out}", file=sys.stderr)


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


def stats(cache: CacheOpt = Path("cache.db"), as_json: JsonOpt = False) -> None:
    """Summarise the cache: runs, requests by status, texts per dataset and source, tokens."""
    from crossglg.cache import open_cache
    from crossglg.cache.vectors import coverage

    with open_cache(cache, readonly=True) as store:
        info = store.stats()
        info["embedding_coverage"] = coverage(store)
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


def format_coverage(rows: list[dict[str, Any]]) -> list[str]:
    """One line per (dataset, source, embedder): classes fully embedded, parts, texts, truncated."""
    if not rows:
        return ["  no embeddings yet: run `crossglg-text embed`"]
    return [
        f"  {r['dataset']:<14} {r['source']:<32} {r['model']} [{r['embedder_id'][:8]}]:"
        f" {r['classes_covered']}/{r['classes']} classes, {r['slots']} parts,"
        f" {r['embedded']}/{r['texts']} texts embedded, {r['truncated']} truncated"
        for r in rows
    ]
