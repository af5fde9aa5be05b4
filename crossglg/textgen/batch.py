"""Batch jobs: the OpenAI Batch API (`generate --batch`) and `vllm run-batch` files (`--batch-file`).

Both write the same JSONL, one request a line with its cache key as ``custom_id``, and read
back the same output format (one ``{"custom_id", "response": {"status_code", "body"},
"error"}`` object a line: OpenAI's batch output and error files, and vLLM's run-batch output).
Answers go through the runner's own validation and repair turns (:class:`Runner` with the
first answer prefilled), so a batch answer is judged exactly like a live one
(docs/TEXTGEN.md, "OpenAI Batch API").

Killing the process between any two steps loses nothing and never submits twice: each step
is recorded in the cache before it is taken (crossglg.cache.batches), the uploaded file is
named after the batch's local id and the batch carries it in its metadata, and a rerun looks
both up before uploading or creating again.

Repair turns of a batch answer go live (at live prices), right when the batch is collected:
they are few, and a follow-up batch would add a day per round. A run-batch file has no live
model behind it, so its answers are stored as they are, without repair turns.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crossglg.cache import AttemptRow, BatchWriter, Cache, GenerationRow, RequestRow, utc_now
from crossglg.cache import batches as ledger
from crossglg.cache.importing import jsonl_lines
from crossglg.errors import UserError
from crossglg.outputs import write_whole
from crossglg.textgen.backends import Backend, ChatRequest, Completion, RetryableError
from crossglg.textgen.backends.base import completion_from_body
from crossglg.textgen.items import ItemTarget
from crossglg.textgen.plan import PlannedRequest
from crossglg.textgen.runner import Runner, RunSettings

ENDPOINT = "/v1/chat/completions"
METADATA_KEY = "crossglg_batch"
TERMINAL = ("completed", "expired", "cancelled", "failed")
MAX_REQUESTS = 50_000  # lines per batch input file the Batch API accepts
# Test hook: the process dies (as by SIGKILL) right after the named step, so the tests can
# prove that a rerun reconciles every step (tests/textgen/test_batch.py).
DIE_AT_ENV = "CROSSGLG_TEST_DIE_AT"


def _step(name: str) -> None:
    if os.environ.get(DIE_AT_ENV) == name:
        os._exit(137)


# -- what a batch remembers of each request ---------------------------------------------------
def planned_json(p: PlannedRequest) -> str:
    """Everything needed to send, validate, repair and file one request, without the plan."""
    return json.dumps(
        {
            "chat": asdict(p.chat),
            "kind": p.answer_kind,
            "slots": list(p.slots),
            "targets": [asdict(t) for t in p.targets],
            "label": p.label,
            "backend": p.row.backend,
            "model": p.row.model,
            "sample_index": p.row.sample_index,
        },
        ensure_ascii=False,
    )


def planned_from_json(key: str, text: str) -> PlannedRequest:
    d = json.loads(text)
    chat = ChatRequest(**d["chat"])
    targets = [ItemTarget(**{**t, "slots": tuple(t["slots"])}) for t in d["targets"]]
    row = RequestRow(key, d["backend"], d["model"], chat.messages, {}, d["sample_index"], chat.seed)
    return PlannedRequest(row, chat, d["kind"], tuple(d["slots"]), targets, d["label"], 0, 0)


def batch_lines(backend: Backend, entries: Iterable[tuple[str, str]]) -> list[str]:
    """The JSONL lines of a batch input file: ``custom_id`` is the request's cache key."""
    body_of = getattr(backend, "request_body", None)
    if body_of is None:
        raise UserError(
            f"--batch and --batch-file need an OpenAI-style backend (openai, server, vllm), not {backend.kind}"
        )
    return [
        json.dumps(
            {
                "custom_id": key,
                "method": "POST",
                "url": ENDPOINT,
                "body": body_of(planned_from_json(key, text).chat),
            },
            ensure_ascii=False,
        )
        for key, text in entries
    ]


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """Write the file whole or not at all (:func:`crossglg.outputs.replaced_file`)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{path}: cannot make its folder ({err.strerror or err})") from None
    write_whole(path, "".join(line + "\n" for line in lines), "batch file")


def input_path(cache_path: Path, local_id: str) -> Path:
    """Where a submitted batch's input file is kept, beside the cache (``cache.db.batches/``)."""
    return cache_path.with_name(cache_path.name + ".batches") / f"{local_id}.jsonl"


# -- reading output files ---------------------------------------------------------------------
@dataclass
class LineResult:
    """One output line: an answer, or why there is none."""

    completion: Completion | None = None
    http_status: int | None = None
    error: str | None = None


def parse_output(text: str, origin: str) -> dict[str, LineResult]:
    """``custom_id`` → result, for an OpenAI batch output/error file or a vLLM run-batch output.

    The whole file is read before anything is stored; a line that is not an output object
    stops with one line naming the file and line.
    """
    out: dict[str, LineResult] = {}
    for no, line in enumerate(jsonl_lines(text.removeprefix("\ufeff")), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
            raise UserError(f"{origin}: line {no}: not JSON (or nested too deeply)") from None
        custom_id = obj.get("custom_id") if isinstance(obj, dict) else None
        if not isinstance(custom_id, str):
            raise UserError(f"{origin}: line {no}: no custom_id; not a batch output line")
        out[custom_id] = _line_result(obj)
    return out


def _line_result(obj: dict[str, Any]) -> LineResult:
    response = obj.get("response") if isinstance(obj.get("response"), dict) else None
    status = response.get("status_code") if response else None
    status = status if isinstance(status, int) else None
    body = response.get("body") if response else None
    if status == 200 and isinstance(body, dict):
        try:
            return LineResult(completion_from_body(body), 200)
        except RetryableError as err:
            return LineResult(None, 200, str(err))
    error = obj.get("error")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
    message = error.get("message") if isinstance(error, dict) else error
    return LineResult(None, status, f"HTTP {status}: {message}" if status else str(message or "no response"))


# -- storing a batch's answers ----------------------------------------------------------------
@dataclass
class Stored:
    answered: int = 0
    failed: int = 0
    missing: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None


def store_results(
    cache: Cache,
    backend: Backend,
    settings: RunSettings,
    run_id: str,
    local_id: str,
    results: dict[str, LineResult],
    batch_id: str | None,
) -> Stored:
    """Validate (and repair) every answer a batch still owes, through the runner; store failures as such."""
    pending = [planned_from_json(key, text) for key, text in ledger.batch_entries(cache, local_id)]
    done = Stored()
    writer = BatchWriter(cache, run_id=run_id)
    todo = []
    for p in pending:
        key = p.row.request_key
        result = results.get(key)
        if result is None:
            done.missing += 1
            continue
        attempt = AttemptRow(key, run_id, 1, utc_now(), http_status=result.http_status, batch_id=batch_id)
        if result.completion is None:
            attempt.error_type, attempt.error_message = "BatchError", (result.error or "")[:500]
            writer.add_attempt(attempt)
            writer.add_generation(GenerationRow(key, "failed", mode="batch", run_id=run_id))  # yields no text
            done.failed += 1
            done.statuses["failed"] = done.statuses.get("failed", 0) + 1
            continue
        writer.add_attempt(attempt)
        todo.append((p, result.completion))
    with writer:
        if todo:
            runner = Runner(backend, writer, settings, run_id=run_id)
            runner.prefilled = {p.row.request_key: c for p, c in todo}
            summary = asyncio.run(runner.run([p for p, _ in todo]))
            done.answered += summary.sent + summary.shared
            done.failed += summary.failed
            done.cost_usd = summary.cost_usd
            for status, n in summary.statuses.items():
                done.statuses[status] = done.statuses.get(status, 0) + n
    return done


# -- the OpenAI Batch API: submit, reconcile, collect -----------------------------------------
def _find_file(client: Any, name: str) -> str | None:
    for f in client.files.list(purpose="batch"):
        if getattr(f, "filename", None) == name:
            return f.id
    return None


def _find_batch(client: Any, local_id: str) -> Any | None:
    for b in client.batches.list(limit=100):
        if (getattr(b, "metadata", None) or {}).get(METADATA_KEY) == local_id:
            return b
    return None


def advance(cache: Cache, backend: Any, local_id: str) -> dict[str, Any]:
    """Take one OpenAI batch from wherever it stopped to ``submitted``; each step recorded first.

    ``prepared`` → write the file → ``uploading`` → upload (unless a file of this name is
    already there) → ``creating`` with the file id → create (unless a batch with this id in its
    metadata is already there) → ``submitted``.
    """
    row = _row(cache, local_id)
    path = Path(row["input_path"])
    if row["state"] == "prepared":
        write_lines(path, batch_lines(backend, ledger.batch_entries(cache, local_id, pending_only=False)))
        _step("written")
        ledger.update_batch(cache, local_id, state="uploading")
        row["state"] = "uploading"
    if row["state"] in ("uploading", "creating"):
        client = backend.sync_client()
    if row["state"] == "uploading":
        _step("uploading")
        if not path.exists():  # removed meanwhile: the same lines again, from the cache
            write_lines(path, batch_lines(backend, ledger.batch_entries(cache, local_id, pending_only=False)))
        file_id = _find_file(client, path.name)
        if file_id is None:
            with path.open("rb") as fh:
                file_id = client.files.create(file=(path.name, fh.read()), purpose="batch").id
        _step("uploaded")
        ledger.update_batch(cache, local_id, state="creating", file_id=file_id)
        row.update(state="creating", file_id=file_id)
    if row["state"] == "creating":
        _step("creating")
        remote = _find_batch(client, local_id)
        if remote is None:
            remote = client.batches.create(
                input_file_id=row["file_id"],
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={METADATA_KEY: local_id},
            )
        _step("created")
        ledger.update_batch(
            cache, local_id, state="submitted", batch_id=remote.id, remote_status=remote.status
        )
        row.update(state="submitted", batch_id=remote.id, remote_status=remote.status)
    return row


def _row(cache: Cache, local_id: str) -> dict[str, Any]:
    for row in ledger.list_batches(cache):
        if row["batch_local_id"] == local_id:
            return row
    raise UserError(f"{cache.path}: no batch {local_id}")


def _content(client: Any, file_id: str | None) -> str:
    return client.files.content(file_id).text if file_id else ""


def collect_one(
    cache: Cache, backend: Any, settings: RunSettings, run_id: str, row: dict[str, Any]
) -> dict[str, Any]:
    """Poll one submitted batch once; when it has ended, store what it owes and close it."""
    local_id = row["batch_local_id"]
    if row["state"] != "submitted":
        row = advance(cache, backend, local_id)
    client = backend.sync_client()
    remote = client.batches.retrieve(row["batch_id"])
    report: dict[str, Any] = {"batch": local_id, "batch_id": row["batch_id"], "remote_status": remote.status}
    ledger.update_batch(
        cache,
        local_id,
        remote_status=remote.status,
        output_file_id=remote.output_file_id,
        error_file_id=remote.error_file_id,
    )
    if remote.status not in TERMINAL:
        counts = getattr(remote, "request_counts", None)
        report["progress"] = dict(counts) if counts is not None and not isinstance(counts, dict) else counts
        return report
    results = parse_output(_content(client, remote.output_file_id), f"batch {row['batch_id']} output")
    results.update(parse_output(_content(client, remote.error_file_id), f"batch {row['batch_id']} errors"))
    _step("downloaded")
    stored = store_results(cache, backend, settings, run_id, local_id, results, row["batch_id"])
    note = None
    if remote.status == "failed":
        errors = getattr(getattr(remote, "errors", None), "data", None) or []
        note = "; ".join(str(getattr(e, "message", e)) for e in errors)[:500] or "the batch failed"
    ledger.update_batch(cache, local_id, state="closed", note=note)
    report.update(asdict(stored), note=note)
    return report
