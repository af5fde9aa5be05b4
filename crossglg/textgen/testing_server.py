"""A scripted OpenAI-compatible chat server for tests and benchmarks.

Real clients must be exercised against real HTTP, yet no test may reach the network and no
test may wait on a model. This server speaks just enough of ``/v1/chat/completions`` and
``/v1/models`` for the ``openai`` client, answers with schema-shaped JSON it builds from the
request's ``response_format``, and lets a test script faults per request: 429 with
Retry-After, 500, 400, answers slower than the client's timeout, truncated or malformed JSON,
and 200 replies that are no chat completion at all (an HTML page, bytes that are not UTF-8,
``choices: []``, ``message: null``, content as a list), or a 401 that echoes the API key.
At the HTTP level it can drop the connection without answering, answer with bytes that are
no HTTP, send a body chunked, until the connection closes, or gzip/deflate-encoded, and serve
over TLS (``certfile``); it keeps each chat request's headers and client port, so a test can
see what a client sent and whether it reused its connection.

It counts requests per *request identity* (the messages plus the seed), which is what the
resume tests need to prove that no answered request is ever sent twice.

It also speaks the Files and Batches endpoints of the OpenAI Batch API (upload, list, file
content, create, list, retrieve), answering each line of a batch with the same script as a
live request (and counting it the same way), in OpenAI's output and error file format: a
line ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``,
non-200 answers in the error file. A batch ends when it is first retrieved while
``batches_ready`` is true (the default); set it false to keep batches ``in_progress``.
"""

from __future__ import annotations

import contextlib
import email.parser
import gzip
import hashlib
import json
import ssl
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """What the server does with one request.

    ``kind``: ``ok`` (schema-shaped JSON), ``status`` (an HTTP error with ``status`` and
    ``headers``), ``text`` (``content`` sent verbatim as the assistant message, e.g. broken
    JSON or a lone surrogate), ``truncated`` (valid answer cut in half, ``finish_reason=length``),
    ``refusal``, ``raw`` (``body`` bytes sent as is with ``content_type`` and ``status``, 200 unless
    set: an engine's own error body, e.g. llama.cpp's HTTP 500 validation error),
    ``message`` (a normal completion whose ``message`` object is replaced by ``message``, e.g.
    ``None`` or ``{"content": [...]}``), ``no_choices`` (``choices: []``), ``echo_key``
    (a 401 whose message quotes the request's Authorization header, as some servers do),
    ``drop`` (the connection is closed without an answer) or ``garbage`` (bytes that are no
    HTTP answer, then the connection closes). ``framing`` sends the body with
    ``Content-Length`` (``length``), ``chunked``, or until the connection closes (``close``);
    ``encoding`` (``gzip``, ``deflate``) compresses it with that ``Content-Encoding``.
    ``delay`` seconds are slept before answering; with ``hold`` set, the reply also waits
    until that event is set (at most a minute), so a test can keep requests in flight until
    something else has happened.
    """

    kind: str = "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content: str = ""
    error_code: str | None = None
    delay: float = 0.0
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    message: Any = None
    hold: threading.Event | None = None
    reasoning_tokens: int = 0  # reported in usage.completion_tokens_details, as reasoning models do
    framing: str = "length"
    encoding: str = ""


# A script sees the parsed request body and how many times this identity was seen before
# (0 for the first request) and returns what to do.
Script = Callable[[dict[str, Any], int], Reply]


def request_identity(body: dict[str, Any]) -> str:
    """Stable id of a logical request: what the client asked, not when or how often."""
    payload = json.dumps([body.get("messages"), body.get("seed")], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def fill_schema(schema: dict[str, Any], hint: str = "") -> Any:
    """A plausible value for a JSON schema: every required property filled, strings non-empty."""
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: fill_schema(sub, name) for name, sub in props.items()}
    if kind == "array":
        if hint == "key_body_parts":  # words the joint dictionary knows, as a good answer has
            return ["right arm", "right hand"]
        item = schema.get("items", {"type": "string"})
        return [fill_schema(item, hint or "item")]
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    return f"The {hint or 'body'} moves steadily through the action."


def _answer_for(body: dict[str, Any]) -> str:
    fmt = body.get("response_format") or {}
    # OpenAI's json_schema, or llama.cpp's JSON mode with a schema
    schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
    if schema:
        return json.dumps(fill_schema(schema))
    return json.dumps(
        {"description": "The right hand rises above the head and moves steadily.", "key_body_parts": ["hand"]}
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counters instead
        return

    def _send(
        self,
        status: int,
        payload: dict[str, Any] | bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        framing: str = "length",
        encoding: str = "",
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if encoding:
            data = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if encoding:
                self.send_header("Content-Encoding", encoding)
            if framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            elif framing == "close":
                self.send_header("Connection", "close")  # the body ends when the connection does
            else:
                self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if framing == "chunked":  # two chunks, so a client must join them
                half = len(data) // 2
                for piece in (data[:half], data[half:], b""):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); that is the point of slow replies

    def _not_found(self) -> None:
        self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_GET(self) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        parts = url.path.rstrip("/").split("/")
        if parts[-1] == "models":
            self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
        elif parts[-1] == "files":
            purpose = parse_qs(url.query).get("purpose", [None])[0]
            with owner._lock:
                files = [f["meta"] for f in owner.files.values() if purpose in (None, f["meta"]["purpose"])]
            self._send(200, {"object": "list", "data": files, "has_more": False})
        elif len(parts) >= 3 and parts[-3] == "files" and parts[-1] == "content" and parts[-2] in owner.files:
            self._send(200, owner.files[parts[-2]]["data"], content_type="application/octet-stream")
        elif parts[-1] == "batches":
            with owner._lock:
                listed = list(reversed(owner.batches.values()))  # newest first, as OpenAI lists them
            self._send(200, {"object": "list", "data": listed, "has_more": False})
        elif len(parts) >= 2 and parts[-2] == "batches" and parts[-1] in owner.batches:
            self._send(200, owner._advance_batch(parts[-1]))
        else:
            self._not_found()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        path = self.path.rstrip("/")
        if path.endswith("/files"):
            self._send(200, self.server.owner._upload(self.headers.get("Content-Type", ""), raw))
            return
        body = json.loads(raw or b"{}")
        if path.endswith("/batches"):
            status, payload = self.server.owner._create_batch(body)
            self._send(status, payload)
            return
        if not path.endswith("/chat/completions"):
            self._not_found()
            return
        owner = self.server.owner
        with owner._lock:
            owner.headers.append(list(self.headers.items()))
            owner.peers.append(self.client_address[1])
        reply = owner._record(body)
        if reply.hold is not None:
            reply.hold.wait(timeout=60.0)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.kind in ("drop", "garbage"):
            if reply.kind == "garbage":
                self.wfile.write(b"this is no HTTP answer\r\n\r\n")
            self.close_connection = True
            return
        status, payload, headers, content_type = chat_response(
            body, reply, self.headers.get("Authorization", ""), owner.total
        )
        self._send(status, payload, headers, content_type, reply.framing, reply.encoding)


def chat_response(
    body: dict[str, Any], reply: Reply, authorization: str, n: int
) -> tuple[int, dict[str, Any] | bytes, dict[str, str], str]:
    """(HTTP status, payload, headers, content type) of the scripted answer to one chat request."""
    if reply.kind == "status":
        error = {"message": f"scripted {reply.status}", "type": "scripted", "code": reply.error_code}
        return reply.status, {"error": error}, reply.headers, "application/json"
    if reply.kind == "echo_key":
        message = f"Incorrect API key provided: {authorization}. You can find your API key at the dashboard."
        return 401, {"error": {"message": message, "type": "invalid_request_error"}}, {}, "application/json"
    if reply.kind == "raw":
        return reply.status, reply.body, {}, reply.content_type
    content: str | None = _answer_for(body)
    finish, refusal = "stop", None
    if reply.kind == "text":
        content = reply.content
    elif reply.kind == "truncated":
        content = (content or "")[: len(content or "") // 2]
        finish = "length"
    elif reply.kind == "refusal":
        content, refusal = None, "I can't help with that."
    n_in = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
    n_out = len(content or "") // 4 + 1 + reply.reasoning_tokens
    usage: dict[str, Any] = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
    if reply.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_tokens}
    message = {"role": "assistant", "content": content, "refusal": refusal}
    choices = [{"index": 0, "message": message, "finish_reason": finish}]
    if reply.kind == "message":
        choices[0]["message"] = reply.message
    elif reply.kind == "no_choices":
        choices = []
    completion = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "system_fingerprint": "fp_scripted",
        "choices": choices,
        "usage": usage,
    }
    return 200, completion, {}, "application/json"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    owner: ScriptedServer


class ScriptedServer:
    """Run in a background thread; use as a context manager.

    ``latency`` is added to every answer (for concurrency benchmarks); ``script`` decides each
    reply. ``counts`` maps request identity → requests received; ``total`` counts them all;
    ``log`` keeps every arrival in order; ``headers`` and ``peers`` keep each chat request's
    headers (as sent) and client port. With ``certfile`` (a PEM holding the key and the
    certificate) it speaks HTTPS, at ``https://127.0.0.1:port/v1``.
    """

    def __init__(
        self, script: Script | None = None, latency: float = 0.0, certfile: str | None = None
    ) -> None:
        self.script = script
        self.latency = latency
        self.counts: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        # (monotonic arrival time, identity, times seen before): for pause and resume tests
        self.log: list[tuple[float, str, int]] = []
        self.total = 0
        self.headers: list[list[tuple[str, str]]] = []
        self.peers: list[int] = []
        self._lock = threading.RLock()
        # the Batch API: uploaded files (id → {"meta", "data"}), batches (id → batch object)
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.uploads = 0
        self.batch_creates = 0
        self.batches_ready = True
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.scheme = "https" if certfile else "http"
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    def _record(self, body: dict[str, Any]) -> Reply:
        ident = request_identity(body)
        with self._lock:
            seen = self.counts[ident]
            self.counts[ident] += 1
            self.total += 1
            self.bodies.append(body)
            self.log.append((time.monotonic(), ident, seen))
            # under the lock, so "the first request" in a script is log[0]
            reply = self.script(body, seen) if self.script else Reply()
        if self.latency:
            reply.delay += self.latency
        return reply

    # -- the Batch API ------------------------------------------------------------------------
    def _store_file(self, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1:06d}"
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.files[file_id] = {"meta": meta, "data": data}
        return meta

    def _upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        """A multipart/form-data upload with fields ``purpose`` and ``file``, as the client sends it."""
        message = email.parser.BytesParser().parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.get_payload():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        filename, data = fields["file"]
        with self._lock:
            self.uploads += 1
            return self._store_file(filename or "upload.jsonl", fields["purpose"][1].decode(), data)

    def _create_batch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if body.get("input_file_id") not in self.files:
                return 400, {"error": {"message": "no such input file", "type": "invalid_request_error"}}
            self.batch_creates += 1
            batch_id = f"batch_{len(self.batches) + 1:06d}"
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body.get("endpoint"),
                "errors": None,
                "input_file_id": body["input_file_id"],
                "completion_window": body.get("completion_window", "24h"),
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()),
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
            }
            return 200, self.batches[batch_id]

    def _advance_batch(self, batch_id: str) -> dict[str, Any]:
        """The batch as retrieved; the first retrieval while ``batches_ready`` runs it to completion."""
        with self._lock:
            batch = self.batches[batch_id]
            if batch["status"] in ("completed", "failed", "expired", "cancelled"):
                return batch
            if not self.batches_ready:
                batch["status"] = "in_progress"
                return batch
            lines = self.files[batch["input_file_id"]]["data"].decode().splitlines()
            out, err = [], []
            for n, line in enumerate(filter(None, lines), 1):
                request = json.loads(line)
                body = request["body"]
                status, payload, _, _ = chat_response(body, self._record(body), "", self.total)
                if not isinstance(payload, dict):  # bytes a live server might send: a batch reports an error
                    payload = {"error": {"message": "invalid response body", "type": "server_error"}}
                result = {
                    "id": f"batch_req_{batch_id}_{n}",
                    "custom_id": request["custom_id"],
                    "response": {"status_code": status, "request_id": f"req_{n}", "body": payload},
                    "error": None,
                }
                (out if status == 200 else err).append(json.dumps(result))
            batch["request_counts"] = {
                "total": len(out) + len(err),
                "completed": len(out),
                "failed": len(err),
            }
            for kind, rows in (("output_file_id", out), ("error_file_id", err)):
                if rows:
                    name = f"{batch_id}_{kind.split('_')[0]}.jsonl"
                    batch[kind] = self._store_file(name, "batch_output", "\n".join(rows).encode() + b"\n")[
                        "id"
                    ]
            batch["status"] = "completed"
            batch["completed_at"] = int(time.time())
            return batch

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(latency: float = 0.0) -> None:
    """Run a well-behaved server in the foreground (handy for trying the CLI by hand)."""
    server = ScriptedServer(latency=latency)
    print(server.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server._httpd.serve_forever()


if __name__ == "__main__":
    import sys

    serve_forever(latency=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
