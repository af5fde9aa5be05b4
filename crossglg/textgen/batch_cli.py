"""`generate --batch` / `--batch-file` and the `crossglg-text batch status|collect|import` commands.

Only Typer is imported at module level, as in the other command modules, so `--help` stays fast.
How batches work and what survives a kill: docs/TEXTGEN.md, "OpenAI Batch API".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crossglg.cli_numbers import real
from crossglg.errors import UserError
from crossglg.inputs import read_input_text
from crossglg.textgen.cli_options import CacheOpt, JsonOpt, PricesOpt, new_app
from crossglg.textgen.cli_options import emit_json as _emit

if TYPE_CHECKING:
    from crossglg.cache import Cache
    from crossglg.textgen.backends import Backend
    from crossglg.textgen.plan import Plan
    from crossglg.textgen.prices import ModelPrice

batch_app = new_app(
    "batch", "Follow OpenAI Batch API jobs (`generate --batch`) and import `vllm run-batch` output files."
)


def register(app: typer.Typer) -> None:
    """Attach the ``batch`` command group to the ``crossglg-text`` app."""
    app.add_typer(batch_app, name="batch")


BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        help="The OpenAI-compatible server the batches were submitted to (not needed for the hosted API)."
    ),
]


def submit_from_generate(
    plan: Plan,
    backend: Backend,
    cache_path: Path,
    force: bool,
    batch_file: Path | None,
    price: ModelPrice | None,
    as_json: bool,
) -> None:
    """Put what the cache lacks into one batch: submitted to OpenAI, or written for `vllm run-batch`.

    Unfinished submissions of earlier (killed) runs are finished first, so rerunning the
    same command is how a crash is recovered.
    """
    from crossglg.cache import BatchWriter, open_cache
    from crossglg.cache import batches as ledger
    from crossglg.textgen import batch as jobs
    from crossglg.textgen.items import cached_items
    from crossglg.textgen.plan import split_todo

    target = "file" if batch_file is not None else "openai"
    if target == "openai" and backend.kind not in ("openai", "server"):
        raise UserError(
            f"--batch sends to the OpenAI Batch API: use --llm MODEL (hosted), not the {backend.kind} backend"
        )
    if target == "file" and backend.kind != "vllm":
        raise UserError("--batch-file writes a `vllm run-batch` file: use it with --backend vllm --llm MODEL")
    if target == "openai":
        backend.prepare()  # a missing API key stops here, before anything is recorded
    args = {"batch": target, "source": plan.source, "batch_file": batch_file, "force": force}
    with open_cache(cache_path) as cache, cache.run("generate", args) as counters:
        assert counters.run_id is not None
        for tpl in plan.templates:
            cache.put_prompt(tpl.name, tpl.text, tpl.version_label)
        cache.put_requests((p.row for p in plan.requests), counters.run_id)
        hits, todo = split_todo(plan, cache.lookup(plan.keys), force)
        with BatchWriter(cache, run_id=counters.run_id) as writer:
            for p in hits:
                writer.link(p.row.request_key, cached_items(cache, p.row.request_key, p.targets))
        resumed = []
        if target == "openai":
            for row in ledger.list_batches(cache, open_only=True, target="openai"):
                if row["state"] != "submitted" and (row["backend"], row["model"]) == (
                    backend.kind,
                    backend.model,
                ):
                    resumed.append(jobs.advance(cache, backend, row["batch_local_id"])["batch_local_id"])
        entries = [(p.row.request_key, jobs.planned_json(p)) for p in todo]
        # OpenAI takes at most MAX_REQUESTS lines per batch: a larger run becomes several batches
        size = len(entries) if target == "file" else jobs.MAX_REQUESTS
        opened: list[tuple[str, list[str]]] = []
        for start in range(0, len(entries), max(size, 1)):
            local_id, chunk_keys = _open(
                cache, target, backend, counters.run_id, entries[start : start + size], batch_file
            )
            if local_id is not None:
                opened.append((local_id, chunk_keys))
        keys = [k for _, chunk in opened for k in chunk]
        counters.n_requests = len(keys)
        counters.n_cache_hits = len(hits)
        report: dict[str, Any] = {
            "source": plan.source,
            "cache": str(cache_path),
            "planned": len(plan.requests),
            "cached": len(hits),
            "batched": len(keys),
            "already_in_a_batch": len(todo) - len(keys),
            "resumed": resumed,
            "batches": [local_id for local_id, _ in opened],
            "batch_ids": [],
        }
        if opened:
            jobs._step("intent")
        for local_id, chunk_keys in opened:
            if target == "file":
                assert batch_file is not None
                chosen = dict(entries)
                jobs.write_lines(batch_file, jobs.batch_lines(backend, [(k, chosen[k]) for k in chunk_keys]))
                report["file"] = str(batch_file)
            else:
                report["batch_ids"].append(jobs.advance(cache, backend, local_id)["batch_id"])
        if price is not None and keys:
            chosen_keys = set(keys)
            batched = [p for p in todo if p.row.request_key in chosen_keys]
            est = sum(p.est_input_tokens for p in batched), sum(p.est_output_tokens for p in batched)
            report["estimated_cost_usd"] = round(price.cost(est[0], 0, est[1], batch=target == "openai"), 6)
    if as_json:
        _emit(report)
        return
    line = f"{plan.source}: {len(plan.requests)} planned, {len(hits)} cached, {len(keys)} batched"
    if report["already_in_a_batch"]:
        line += f", {report['already_in_a_batch']} already in a submitted batch"
    if resumed:
        line += f"; finished submitting {', '.join(resumed)}"
    print(line)
    if target == "file" and keys:
        print(
            f"wrote {batch_file}: run `vllm run-batch -i {batch_file} -o OUTPUT.jsonl --model {backend.model}`, "
            f"then `crossglg-text batch import OUTPUT.jsonl --cache {cache_path}`"
        )
    elif keys:
        print(
            f"submitted batch {', '.join(report['batch_ids'])}; `crossglg-text batch collect --cache {cache_path}` "
            "stores the answers once it has run (within 24 h)"
        )


def _open(
    cache: Cache,
    target: str,
    backend: Backend,
    run_id: str,
    entries: list[tuple[str, str]],
    batch_file: Path | None,
) -> tuple[str | None, list[str]]:
    from ulid import ULID

    from crossglg.cache import batches as ledger
    from crossglg.textgen import batch as jobs

    if target == "file":
        return ledger.open_batch(cache, target, backend.kind, backend.model, run_id, entries, str(batch_file))
    # the input file is named after the batch, so a rerun finds an upload a kill left unrecorded
    local_id = f"cgb_{ULID()}"
    path = str(jobs.input_path(cache.path, local_id))
    return ledger.open_batch(cache, target, backend.kind, backend.model, run_id, entries, path, local_id)


def _openai_backend(row: dict[str, Any], base_url: str | None) -> Any:
    from crossglg.textgen.backends.openai_api import OpenAIBackend

    backend = OpenAIBackend(row["model"], base_url=base_url)
    if backend.kind != row["backend"]:
        where = "the hosted OpenAI API" if row["backend"] == "openai" else "a server: pass its --base-url"
        raise UserError(f"batch {row['batch_local_id']} was submitted to {where}")
    return backend


@batch_app.command()
def status(
    cache: CacheOpt = Path("cache.db"),
    base_url: BaseUrlOpt = None,
    show_all: Annotated[bool, typer.Option("--all", help="Also list closed batches.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List batches with their state here and, for submitted ones, at OpenAI; changes nothing."""
    from crossglg.cache import batches as ledger
    from crossglg.cache import open_cache

    with open_cache(cache, readonly=True) as store:
        rows = ledger.list_batches(store, open_only=not show_all)
    for row in rows:
        row["remote"] = None
        if row["target"] == "openai" and row["state"] == "submitted":
            remote = _openai_backend(row, base_url).sync_client().batches.retrieve(row["batch_id"])
            counts = getattr(remote, "request_counts", None)
            row["remote"] = {
                "status": remote.status,
                "request_counts": counts.model_dump() if hasattr(counts, "model_dump") else counts,
            }
    if as_json:
        _emit(rows)
        return
    if not rows:
        print(f"{cache}: no {'' if show_all else 'open '}batches")
    for row in rows:
        remote = row["remote"]
        where = f"remote {remote['status']} {remote['request_counts'] or ''}" if remote else ""
        print(
            f"{row['batch_local_id']} {row['target']:<6} {row['backend']}:{row['model']} {row['state']:<9} "
            f"{row['pending']}/{row['n_requests']} owed {row['batch_id'] or ''} {where}".rstrip()
        )


@batch_app.command()
def collect(
    cache: CacheOpt = Path("cache.db"),
    base_url: BaseUrlOpt = None,
    wait: Annotated[
        float,
        typer.Option(
            callback=real(0.0, 172800.0),
            help="Keep polling up to this many seconds until every batch has ended.",
        ),
    ] = 0.0,
    poll: Annotated[
        float, typer.Option(callback=real(1.0, 3600.0), help="Seconds between polls while --wait lasts.")
    ] = 60.0,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store the answers of every ended OpenAI batch, validated and repaired like live ones."""
    from crossglg.cache import batches as ledger
    from crossglg.cache import open_cache
    from crossglg.textgen.batch import TERMINAL, collect_one
    from crossglg.textgen.prices import load_prices
    from crossglg.textgen.runner import RunSettings

    table = load_prices(prices)
    deadline = time.monotonic() + wait
    reports: list[dict[str, Any]] = []
    with (
        open_cache(cache) as store,
        store.run("batch-collect", {"base_url_given": base_url is not None}) as counters,
    ):
        assert counters.run_id is not None
        while True:
            rows = ledger.list_batches(store, open_only=True, target="openai")
            reports = []
            for row in rows:
                backend = _openai_backend(row, base_url)
                settings = RunSettings(price=table.lookup(backend.source))
                reports.append(collect_one(store, backend, settings, counters.run_id, row))
            running = [r for r in reports if r["remote_status"] not in TERMINAL]
            if not running or time.monotonic() + poll > deadline:
                break
            time.sleep(poll)
        counters.n_requests = sum(r.get("answered", 0) + r.get("failed", 0) for r in reports)
        counters.n_failed = sum(r.get("failed", 0) for r in reports)
        counters.cost_usd = sum(r.get("cost_usd") or 0.0 for r in reports)
    if as_json:
        _emit(reports)
        return
    if not reports:
        print(f"{cache}: no open batches")
    for r in reports:
        if r["remote_status"] not in TERMINAL:
            print(
                f"{r['batch']} ({r['batch_id']}): {r['remote_status']} {r.get('progress') or ''}; collect again later"
            )
            continue
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items())) or "nothing"
        cost = "" if r["cost_usd"] is None else f", ${r['cost_usd']:.4f}"
        print(
            f"{r['batch']} ({r['batch_id']}): {r['remote_status']}; stored {statuses}{cost}"
            + (f"; {r['missing']} without an answer (the next generate asks again)" if r["missing"] else "")
            + (f"; {r['note']}" if r["note"] else "")
        )
    if any(r.get("failed") for r in reports):
        raise typer.Exit(1)


@batch_app.command("import")
def import_output(
    output: Annotated[Path, typer.Argument(help="The output file of `vllm run-batch -o OUTPUT`.")],
    cache: CacheOpt = Path("cache.db"),
    as_json: JsonOpt = False,
) -> None:
    """Store the answers of a `vllm run-batch` output file written for `generate --batch-file`.

    Each answer is validated like a live one; there is no live model for repair turns, so an
    unusable answer is stored with its status and asked again by the next generate.
    """
    from crossglg.cache import batches as ledger
    from crossglg.cache import open_cache
    from crossglg.textgen.backends.vllm_offline import VLLMBackend
    from crossglg.textgen.batch import parse_output, store_results
    from crossglg.textgen.prices import load_prices
    from crossglg.textgen.runner import RunSettings

    try:
        text = read_input_text(output, "run-batch output file")
    except FileNotFoundError:
        raise UserError(f"{output}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{output}: cannot read it as a run-batch output file ({err})") from None
    results = parse_output(text, str(output))  # the whole file is checked before the cache is opened
    table = load_prices()
    reports, matched = [], set()
    with open_cache(cache) as store, store.run("batch-import", {"file": output}) as counters:
        assert counters.run_id is not None
        for row in ledger.list_batches(store, open_only=True, target="file"):
            owed = {key for key, _ in ledger.batch_entries(store, row["batch_local_id"])}
            mine = {k: v for k, v in results.items() if k in owed}
            matched |= mine.keys()
            if mine:
                backend = VLLMBackend(row["model"])
                settings = RunSettings(repairs=0, price=table.lookup(backend.source))
                stored = store_results(
                    store, backend, settings, counters.run_id, row["batch_local_id"], mine, None
                )
                reports.append({"batch": row["batch_local_id"], **vars(stored)})
            if not ledger.batch_entries(store, row["batch_local_id"]):
                ledger.update_batch(store, row["batch_local_id"], state="closed")
        counters.n_requests = len(matched)
    unmatched = len(results) - len(matched)
    summary = {
        "file": str(output),
        "lines": len(results),
        "stored": len(matched),
        "unmatched": unmatched,
        "batches": reports,
    }
    if as_json:
        _emit(summary)
        return
    statuses: dict[str, int] = {}
    for r in reports:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    print(
        f"{output}: {len(results)} answers, stored {len(matched)} ("
        + (", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "none")
        + ")"
        + (
            f"; {unmatched} not owed by any exported batch (already stored, or not from this cache)"
            if unmatched
            else ""
        )
    )
    if not matched and results:
        print(f"warning: nothing in {output} matched a request exported from {cache}", file=sys.stderr)
