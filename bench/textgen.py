"""Text-generation runner speed against the scripted OpenAI-compatible server (not a test)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/textgen.py

1. throughput at zero latency: requests/s through the real ``openai`` client, the runner and
   the cache (planning, retries, parsing, batched SQLite writes included), and the client's
   CPU time per request at concurrency 64 after a warm-up run (imports excluded), for the
   request path crossglg uses (:class:`crossglg.textgen.backends.chat_post.ChatPoster` through
   its keep-alive pool, crossglg.textgen.backends.keepalive) and, side by side in the same
   run, for the two it replaced: ``ChatPoster`` through the client's own httpx2 client (the
   path it still takes behind a proxy) and the SDK's ``chat.completions.with_raw_response.create``;
   the three alternate, twice each, and each keeps its lower figure. The server runs in its
   own process so its CPU is not counted.
2. concurrency: the same requests against a 200 ms-latency server at --concurrency 1 and 64;
   the speed-up should approach min(64, n) on any machine, since the client only waits.
3. cached rerun: ntu120 (120 classes × 2 prompts) already in the cache; wall time in-process
   and as a fresh ``crossglg-text generate`` process. Goal < 1 s, 0 requests sent.

The machine's load average is printed with the figures: the shared CI host swings 5-20×
(docs/BENCHMARKS.md, "Measured"), so compare runs only on the same machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crossglg.textgen.backends import make_backend
from crossglg.textgen.backends.chat_post import proxied
from crossglg.textgen.backends.openai_api import OpenAIBackend
from crossglg.textgen.generate import generate
from crossglg.textgen.plan import GenParams, build_plan, select_classes
from crossglg.textgen.runner import RunSettings, RunSummary


class ServerProcess:
    """The scripted server in a child process; its first stdout line is the base URL."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crossglg.textgen.testing_server", str(latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class ClientHTTPPathBackend(OpenAIBackend):
    """ChatPoster through the client's own httpx2 client, as behind a proxy: for comparison only."""

    def _get_client(self) -> Any:
        client = super()._get_client()
        self._poster.pool = None
        return client


class SDKPathBackend(OpenAIBackend):
    """The request path before the low-level one: the SDK's typed ``create``, for comparison only."""

    async def _send(self, client: Any, body: dict[str, Any], timeout: float) -> bytes:
        raw = await client.chat.completions.with_raw_response.create(**body, timeout=timeout)
        return raw.content


# the request paths crossglg no longer takes by default, measured beside its own ("pool")
PATHS: dict[str, type[OpenAIBackend]] = {"httpx": ClientHTTPPathBackend, "sdk": SDKPathBackend}


def run_once(
    base_url: str,
    cache: Path,
    dataset: str,
    samples: int,
    concurrency: int,
    class_ids: list[int] | None = None,
    path: str = "pool",
) -> tuple[RunSummary, float, float]:
    """(summary, wall seconds, client CPU seconds) for one generate call along ``path`` (PATHS)."""
    selection = select_classes(dataset, class_ids=class_ids)
    backend = (
        PATHS[path]("bench", base_url=base_url) if path in PATHS else make_backend("bench", base_url=base_url)
    )
    plan = build_plan(selection, backend, GenParams(), samples)
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = generate(
        plan, backend, cache, RunSettings(concurrency=concurrency, timeout=30.0), {"bench": True}
    )
    return summary, time.perf_counter() - t0, time.process_time() - cpu0


def measure(samples: int = 4, latency_requests: int = 64) -> dict[str, object]:
    """The three figures as one dict (``python -m bench`` calls this)."""
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    results: dict[str, object] = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        # 1. throughput at zero latency
        best: dict[str, tuple[float, float]] = {}  # path → (cpu per request, wall)
        paths = ("sdk", "httpx", "pool")
        with ServerProcess(0.0) as srv:
            if proxied(srv.base_url):  # the pool would not be used: its row would be the httpx2 one
                raise SystemExit(
                    "unset HTTP_PROXY/ALL_PROXY (any case) for this benchmark: its server is local"
                )
            # warm-up: imports (openai alone is ~1 s of CPU) and code paths, not counted
            for path in paths:
                run_once(srv.base_url, tmpdir / f"warm-{path}.db", "utkinect", 1, 64, path=path)
            for round_no in (0, 1):
                for path in paths:
                    db = tmpdir / f"t{round_no}{path}.db"
                    summary, wall, cpu = run_once(srv.base_url, db, "ntu120", samples, 64, path=path)
                    assert summary.ok, summary.errors[:3]
                    per_request = cpu / summary.sent
                    if path not in best or per_request < best[path][0]:
                        best[path] = (per_request, wall)
        cpu_ms, wall = 1000 * best["pool"][0], best["pool"][1]
        results["zero_latency"] = {
            "requests": summary.sent,
            "requests_per_s": round(summary.sent / wall, 1),
            "client_cpu_ms_per_request": round(cpu_ms, 3),
            "client_cpu_ms_per_request_httpx_path": round(1000 * best["httpx"][0], 3),
            "client_cpu_ms_per_request_sdk_path": round(1000 * best["sdk"][0], 3),
            "wall_s": round(wall, 3),
            "wall_s_httpx_path": round(best["httpx"][1], 3),
        }

        # 2. concurrency 1 vs 64 against a 200 ms server, same number of requests
        n_classes = max(1, latency_requests // 2)
        ids = list(range(1, n_classes + 1))
        timings = {}
        with ServerProcess(0.2) as srv:
            for conc in (1, 64):
                summary, wall, _ = run_once(srv.base_url, tmpdir / f"c{conc}.db", "ntu120", 1, conc, ids)
                assert summary.ok and summary.sent == 2 * n_classes
                timings[conc] = wall
        results["latency_200ms"] = {
            "requests": 2 * n_classes,
            "wall_s_concurrency_1": round(timings[1], 3),
            "wall_s_concurrency_64": round(timings[64], 3),
            "speedup": round(timings[1] / timings[64], 1),
        }

        # 3. fully cached rerun of ntu120 (120 classes × 2 prompts)
        cache = tmpdir / "rerun.db"
        with ServerProcess(0.0) as srv:
            first, _, _ = run_once(srv.base_url, cache, "ntu120", 1, 64)
            again, wall, _ = run_once(srv.base_url, cache, "ntu120", 1, 64)
            assert first.sent == 240 and again.sent == 0 and again.cached == 240
            cmd = [
                sys.executable,
                "-m",
                "crossglg.textgen.cli",
                "generate",
                "--llm",
                "bench",
                "--base-url",
                srv.base_url,
                "--dataset",
                "ntu120",
                "--cache",
                str(cache),
                "--json",
            ]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            process_wall = time.perf_counter() - t0
            assert json.loads(proc.stdout)["sent"] == 0
        results["cached_rerun_ntu120"] = {
            "requests": 240,
            "sent": 0,
            "in_process_s": round(wall, 3),
            "fresh_process_s": round(process_wall, 3),
        }
    results["load_average_after"] = os.getloadavg()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--samples", type=int, default=4, help="samples per prompt for the throughput run (ntu120)"
    )
    ap.add_argument(
        "--latency-requests", type=int, default=64, help="requests for the concurrency comparison"
    )
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    results = measure(args.samples, args.latency_requests)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    z, lat, rr = results["zero_latency"], results["latency_200ms"], results["cached_rerun_ntu120"]
    print(f"load average {results['load_average']} on {results['cpus']} CPUs")
    print(
        f"zero latency: {z['requests']} requests, {z['requests_per_s']} req/s, "
        f"client CPU {z['client_cpu_ms_per_request']} ms/request (through the client's httpx2 client: "
        f"{z['client_cpu_ms_per_request_httpx_path']}; the SDK's typed create: "
        f"{z['client_cpu_ms_per_request_sdk_path']} ms/request)"
    )
    print(
        f"200 ms latency, {lat['requests']} requests: concurrency 1 {lat['wall_s_concurrency_1']} s, "
        f"64 {lat['wall_s_concurrency_64']} s → {lat['speedup']}× faster"
    )
    print(
        f"cached ntu120 rerun (240 requests, 0 sent): {rr['in_process_s']} s in-process, "
        f"{rr['fresh_process_s']} s as a fresh process"
    )


if __name__ == "__main__":
    main()
