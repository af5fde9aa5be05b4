"""Every benchmark in one run, one table of ratios measured side by side (docs/BENCHMARKS.md)::

    OMP_NUM_THREADS=1 .venv/bin/python -m bench            # full sizes, ~10 min on 2 busy cores
    OMP_NUM_THREADS=1 .venv/bin/python -m bench --quick    # small sizes, ~2 min (what the test runs)
    .venv/bin/python -m bench --only data --only train --json

Each row pairs a figure of ours with a reference measured in the same process and moment
(a plain baseline, the other variant, or the other setting), so the ratio holds on any
machine while the absolute numbers swing with the shared host's load. The per-area scripts
(bench/textgen.py, embed.py, data.py, gpu_train.py) remain the place for the full details;
this entry point calls their measuring functions and does not re-implement any of them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Row:
    """One line of the table: ours vs a reference measured alongside it."""

    area: str
    figure: str
    ours: float | None
    reference: float | None
    unit: str
    ratio: float | None
    reads: str  # how to read the ratio, e.g. "×, higher is faster"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b in (None, 0) else a / b


def bench_textgen(quick: bool) -> tuple[dict, list[Row]]:
    from bench import textgen

    r = textgen.measure(samples=1 if quick else 4, latency_requests=16 if quick else 64)
    z, lat, rr = r["zero_latency"], r["latency_200ms"], r["cached_rerun_ntu120"]
    return r, [
        Row("textgen", f"{lat['requests']} requests to a 200 ms server: concurrency 64 vs 1",
            lat["wall_s_concurrency_64"], lat["wall_s_concurrency_1"], "s",
            _ratio(lat["wall_s_concurrency_1"], lat["wall_s_concurrency_64"]), "× faster (ideal ≈ min(64, n))"),
        Row("textgen", f"zero-latency server, {z['requests']} requests", z["requests_per_s"], None,
            "req/s", None, "through the real client, runner and cache"),
        Row("textgen", f"client CPU per request at concurrency 64, {z['requests']} requests: keep-alive pool "
            "vs ChatPoster through the client's httpx2 client", z["client_cpu_ms_per_request"],
            z["client_cpu_ms_per_request_httpx_path"], "ms",
            _ratio(z["client_cpu_ms_per_request_httpx_path"], z["client_cpu_ms_per_request"]),
            "× less CPU per request (goal < 1 ms)"),
        Row("textgen", f"client CPU per request at concurrency 64, {z['requests']} requests: keep-alive pool "
            "vs the SDK's typed create", z["client_cpu_ms_per_request"], z["client_cpu_ms_per_request_sdk_path"],
            "ms", _ratio(z["client_cpu_ms_per_request_sdk_path"], z["client_cpu_ms_per_request"]),
            "× less CPU per request (goal < 1 ms)"),
        Row("textgen", "cached ntu120 rerun (240 requests, 0 sent): fresh process vs in-process",
            rr["fresh_process_s"], rr["in_process_s"], "s", _ratio(rr["fresh_process_s"], rr["in_process_s"]),
            "× (process start-up share); goal < 1 s"),
    ]  # fmt: skip


def bench_embed(quick: bool) -> tuple[dict, list[Row]]:
    from bench import embed

    r = {
        "throughput": embed.bench_throughput(200 if quick else 1000, 1 if quick else 3, 64),
        "rerun": embed.bench_rerun(2000 if quick else 10000),
        "textbank": embed.bench_textbank(20 if quick else 120, 1 if quick else 4),
    }
    t, rr, tb = r["throughput"], r["rerun"], r["textbank"]
    return r, [
        Row("embed", f"`crossglg-text embed` vs bare SentenceTransformer.encode, {t['texts']} texts",
            t["embed_cmd_texts_per_s"], t["bare_encode_texts_per_s"], "texts/s", t["ratio"],
            "× of bare speed (goal ≥ 0.9)"),
        Row("embed", f"rerun over {rr['texts']} embedded texts: fresh process vs in-process",
            rr["fresh_process_s"], rr["in_process_s"], "s", _ratio(rr["fresh_process_s"], rr["in_process_s"]),
            "× (process start-up share); goal < 1 s, 0 encoded"),
        Row("embed", f"TextBank.from_cache vs a bare SELECT of the blobs, {tb['vectors']} vectors",
            tb["textbank_vectors_per_s"], tb["plain_select_vectors_per_s"], "vectors/s",
            _ratio(tb["textbank_vectors_per_s"], tb["plain_select_vectors_per_s"]), "× of a plain read"),
    ]  # fmt: skip


def bench_data(quick: bool) -> tuple[dict, list[Row]]:
    import math

    from bench import data
    from crossglg.data.synthetic import write_raw

    files, batch = (40, 64) if quick else (400, 256)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_raw(root / "raw", n_per_class=max(1, math.ceil(files / 40)), seed=0)
        (root / "npy").mkdir()
        r = {
            "parse": data.bench_parse(root / "raw", root / "prepared", 2),
            "load": data.bench_load(root / "prepared", root / "npy"),
            "augment": data.bench_augment(root / "prepared", batch),
        }
    p, ld, a = r["parse"], r["load"], r["augment"]
    return r, [
        Row("data", f"NTU .skeleton reader vs a line-by-line parser, {p['files']} files",
            p["reader_files_per_s"], p["baseline_files_per_s"], "files/s",
            _ratio(p["reader_files_per_s"], p["baseline_files_per_s"]), "× faster"),
        Row("data", "`prepare` (2 processes, checks + report) vs the line-by-line parser",
            p["prepare_2proc_files_per_s"], p["baseline_files_per_s"], "files/s",
            _ratio(p["prepare_2proc_files_per_s"], p["baseline_files_per_s"]), "× faster"),
        Row("data", f"prepared cache vs one .npy per sample, {ld['samples']} reads",
            ld["prepared_samples_per_s"], ld["baseline_npy_samples_per_s"], "samples/s",
            _ratio(ld["prepared_samples_per_s"], ld["baseline_npy_samples_per_s"]), "× faster"),
        Row("data", f"batched preprocessing vs per-sample NumPy, batch {a['batch']} ({a['device']})",
            a["batched_samples_per_s"], a["baseline_numpy_samples_per_s"], "samples/s",
            _ratio(a["batched_samples_per_s"], a["baseline_numpy_samples_per_s"]), "× faster"),
    ]  # fmt: skip


def bench_model_info(quick: bool) -> tuple[dict, list[Row]]:
    from crossglg.models.report import model_info

    info = model_info("infogcn", "ntu25", 100, frames=16 if quick else 64)
    r = asdict(info)
    gf = 1e9
    return r, [
        Row("model-info", "InfoGCN inference parameters: +CrossGLG vs base (NTU-25, 100 classes)",
            info.crossglg_inference_params / 1e6, info.base_inference_params / 1e6, "M",
            _ratio(info.crossglg_inference_params, info.base_inference_params), "× (issue budget ≤ 1.07)"),
        Row("model-info", f"InfoGCN inference GFLOPs per sample ({info.frames} frames): +CrossGLG vs base",
            info.crossglg_inference_flops / gf, info.base_inference_flops / gf, "GFLOPs",
            _ratio(info.crossglg_inference_flops, info.base_inference_flops), "× (the JID's cost)"),
        Row("model-info", "InfoGCN training parameters: +CrossGLG (L2G, text) vs base",
            info.crossglg_params / 1e6, info.base_params / 1e6, "M",
            _ratio(info.crossglg_params, info.base_params), "× (training only; L2G is dropped at export)"),
    ]  # fmt: skip


def bench_train(quick: bool) -> tuple[dict, list[Row]]:
    from bench import gpu_train

    if quick:
        argv = ["--quick", "--device", "cpu"]
    else:
        argv = ["--device", "cpu", "--steps", "4", "--warmup", "1", "--batch", "16", "--frames", "64",
                "--per-class", "1", "--compile", "off", "--amp", "off", "--text-dim", "384",
                "--infer-batch", "32"]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        doc = gpu_train.main(argv)
    by = {r["model"]: r for r in doc["results"]}
    if doc["errors"] or set(by) != {"base", "crossglg", "reference"}:
        raise RuntimeError(f"bench/gpu_train.py failed: {doc['errors']}")
    s = doc["settings"]
    base, text, ref = by["base"], by["crossglg"], by["reference"]
    return doc, [
        Row("train", f"CPU training step, batch {s['batch']}, {s['frames']} frames: +CrossGLG vs base",
            text["step_ms"], base["step_ms"], "ms", _ratio(text["step_ms"], base["step_ms"]),
            "× step time (text branch cost)"),
        Row("train", "CPU training: our InfoGCN vs the reference code's layout (bench/reference_infogcn.py)",
            base["train_samples_per_s"], ref["train_samples_per_s"], "samples/s",
            _ratio(base["train_samples_per_s"], ref["train_samples_per_s"]), "× of reference speed (GPU goal ≥ 2)"),
        Row("train", "CPU inference of the exported branch: +CrossGLG vs base",
            text["infer_samples_per_s"], base["infer_samples_per_s"], "samples/s",
            _ratio(text["infer_samples_per_s"], base["infer_samples_per_s"]), "× of base speed"),
    ]  # fmt: skip


def bench_soft_dtw(quick: bool) -> tuple[dict, list[Row]]:
    from bench import soft_dtw

    r = soft_dtw.measure(frames=16 if quick else 32, pairs=8 if quick else 16)
    if not r["same_values"]:
        raise RuntimeError("soft-DTW by diagonals disagrees with the cell-by-cell recurrence")
    return r, [
        Row("soft-dtw", f"soft-DTW forward + backward, {r['pairs']} pairs of {r['frames']} frames: "
            "by anti-diagonals vs cell by cell", r["diagonals_s"], r["cell_by_cell_s"], "s",
            _ratio(r["cell_by_cell_s"], r["diagonals_s"]), "× faster (the w_align term's inner loop)"),
    ]  # fmt: skip


BENCHES: dict[str, Callable[[bool], tuple[dict, list[Row]]]] = {
    "textgen": bench_textgen,
    "embed": bench_embed,
    "data": bench_data,
    "model-info": bench_model_info,
    "train": bench_train,
    "soft-dtw": bench_soft_dtw,
}


def run(names: list[str], quick: bool, progress: Callable[[str], None] = lambda s: None) -> dict:
    """Run the chosen benchmarks; a failing one is reported in its row, the others still run."""
    doc: dict = {"quick": quick, "load_average_before": os.getloadavg(), "cpus": os.cpu_count(), "raw": {}}
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for name in names:
        progress(name)
        t0 = time.perf_counter()
        try:
            raw, got = BENCHES[name](quick)
        except Exception as err:
            errors[name] = f"{type(err).__name__}: {err}"
            doc["raw"][name] = {"trace": traceback.format_exc(limit=4)}
            continue
        doc["raw"][name] = {**raw, "seconds": round(time.perf_counter() - t0, 1)}
        rows.extend(got)
    doc["load_average_after"] = os.getloadavg()
    doc["rows"] = [asdict(r) for r in rows]
    doc["errors"] = errors
    return doc


def _num(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def print_table(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    la = doc["load_average_before"]
    table = Table(title=f"crossglg benchmarks (load average {la[0]:.1f} on {doc['cpus']} CPUs)")
    for col, justify in (("area", "left"), ("measured", "left"), ("ours", "right"),
                         ("reference", "right"), ("unit", "left"), ("ratio", "right"), ("reads", "left")):  # fmt: skip
        table.add_column(col, justify=justify)
    for r in doc["rows"]:
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        table.add_row(
            r["area"], r["figure"], _num(r["ours"]), _num(r["reference"]), r["unit"], ratio, r["reads"]
        )
    for name, err in doc["errors"].items():
        table.add_row(name, f"FAILED: {err}", "", "", "", "", "")
    Console(width=200).print(table)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes on 2 busy cores)")
    p.add_argument("--only", action="append", choices=list(BENCHES), help="run only these (repeatable)")
    p.add_argument(
        "--json", action="store_true", help="print the whole document (rows and raw figures) as JSON"
    )
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    doc = run(
        args.only or list(BENCHES), args.quick, lambda n: print(f"running {n} …", file=sys.stderr, flush=True)
    )
    if args.json:
        print(json.dumps(doc, indent=1, default=str))
    else:
        print_table(doc)
    if doc["errors"]:
        sys.exit(1)
    return doc


if __name__ == "__main__":
    main()
