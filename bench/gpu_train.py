"""Training and inference speed at NTU scale: base, +CrossGLG and the reference layout, bf16, compile on/off.

Run on a CUDA GPU (one prepared script, no data or text cache needed):

    python bench/gpu_train.py                 # 300 timed steps per variant, batch 128
    python bench/gpu_train.py --steps 100     # shorter
    python bench/gpu_train.py --quick         # tiny CPU smoke version (what the tests run)

Input is synthetic NTU-25 actions (64 frames x 25 joints x 2 persons after preprocessing),
held on the device as one padded tensor and preprocessed there per batch, exactly like the
trainer. The text side of +CrossGLG uses fixed random local-text vectors and joint targets:
their values do not change the cost. Prints one JSON document, then a table.

Measured per variant: training samples/s (steps timed after warm-up and compilation), peak
GPU memory, inference samples/s of the exported skeleton branch, and the share of a training
step spent preparing the batch (the data loop timed alone over the same batches, divided by
the training loop's time). Then the CrossGLG/base step-time ratio per compile setting, and
each of our variants' training / inference speed-up and peak-memory ratio over the reference
layout (bench/reference_infogcn.py, eager; `--no-reference` skips it) timed in the same run:
the speed bar's comparison on whatever card this is. Eager variants run first and the `--json`
file is rewritten after every variant, so a run stopped by a time limit keeps what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300, help="timed training steps per variant")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps first (compilation, cudnn autotune)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--per-class", type=int, default=32, help="synthetic samples per class (40 classes)")
    p.add_argument("--amp", choices=("bf16", "fp16", "off"), default="bf16")
    p.add_argument("--compile", choices=("both", "on", "off"), default="both")
    p.add_argument("--text-dim", type=int, default=768, help="local-text vector width (mpnet 768)")
    p.add_argument("--infer-batch", type=int, default=256)
    p.add_argument("--device", default="", help="default: cuda when available, else cpu")
    p.add_argument(
        "--no-reference", dest="reference", action="store_false", help="skip the reference-layout InfoGCN"
    )
    p.add_argument("--json", dest="json_path", default="", help="also write the JSON document here")
    p.add_argument("--quick", action="store_true", help="tiny sizes for a CPU smoke run (overrides sizes)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.batch, args.frames = 2, 1, 4, 16
        args.per_class, args.infer_batch, args.text_dim = 1, 8, 32
        if args.compile == "both":
            args.compile = "off"
    return args


class Bench:
    """The data, text and models shared by every variant."""

    def __init__(self, args: argparse.Namespace, device: str) -> None:
        import numpy as np
        import torch

        from crossglg.data.preprocess import PreprocessConfig, pad_sequences
        from crossglg.data.synthetic import generate
        from crossglg.vocab.layouts import get_layout

        self.args, self.device = args, device
        self.layout = get_layout("ntu25")
        synth = generate(args.per_class, seed=0)
        padded = pad_sequences(synth.sequences, device=device)
        self.data, self.lengths = padded.data, padded.lengths
        self.lengths_host = padded.lengths.cpu()
        self.labels = torch.as_tensor(synth.labels, device=device)
        self.num_classes = int(synth.labels.max()) + 1
        self.pre = PreprocessConfig(frames=args.frames, persons=2, min_crop=min(64, args.frames))
        rng = np.random.default_rng(0)
        self.text_local = torch.as_tensor(
            rng.standard_normal((self.num_classes, 6, args.text_dim)), dtype=torch.float32, device=device
        )
        k = rng.dirichlet(np.ones(self.layout.num_joints), size=self.num_classes)
        self.k_gt = torch.as_tensor(k, dtype=torch.float32, device=device)
        self.gen = torch.Generator().manual_seed(0)
        self.amp = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[args.amp]

    def batch(self, train: bool = True, size: int = 0):
        import torch

        from crossglg.data.preprocess import preprocess

        n = size or self.args.batch
        host = torch.randint(0, len(self.lengths), (n,), generator=self.gen)
        idx = host.to(self.device)
        lens = self.lengths[idx]
        data = self.data[idx, : int(self.lengths_host[host].max())]  # no device sync for the length
        x = preprocess(
            data, lengths=lens, layout=self.layout, train=train, config=self.pre, generator=self.gen
        ).x
        return x, self.labels[idx]

    def autocast(self):
        import torch

        if self.amp is None:
            return contextlib.nullcontext()
        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        return torch.autocast(device_type=kind, dtype=self.amp)

    def sync(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def model(self, variant: str):
        """``base`` / ``crossglg``: our InfoGCN without / with text; ``reference``: the public
        code's layout (bench/reference_infogcn.py)."""
        from bench.reference_infogcn import ReferenceInfoGCN
        from crossglg.models import build_model

        if variant == "reference":
            return ReferenceInfoGCN(self.layout, self.num_classes)
        extra = {"use_text": variant == "crossglg", "l2g": {"text_dim": self.args.text_dim}}
        return build_model("infogcn", self.layout, self.num_classes, extra)

    def run(self, variant: str, compiled: bool) -> dict:
        import torch

        torch.manual_seed(0)
        text = variant == "crossglg"
        model = self.model(variant).to(self.device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        net = torch.compile(model) if compiled else model
        model.train()

        def step(x, y) -> None:
            with self.autocast():
                out = net(x, self.text_local[y] if text else None)
                loss, _ = model.loss(out, y, self.k_gt[y] if text else None)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        for _ in range(self.args.warmup):
            step(*self.batch())
        self.sync()
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(self.args.steps):
            step(*self.batch())
        self.sync()
        train_s = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated() / 2**30 if self.device.startswith("cuda") else None

        t0 = time.perf_counter()
        for _ in range(self.args.steps):
            self.batch()
        self.sync()
        data_s = time.perf_counter() - t0

        branch = model.inference_model()
        infer = torch.compile(branch) if compiled else branch
        x_inf = self.batch(train=False, size=self.args.infer_batch)[0]
        with torch.no_grad(), self.autocast():
            for _ in range(max(2, self.args.warmup // 3)):
                infer(x_inf)
            self.sync()
            n_inf = max(3, self.args.steps // 3)
            t0 = time.perf_counter()
            for _ in range(n_inf):
                infer(x_inf)
            self.sync()
            infer_s = time.perf_counter() - t0
        return {
            "variant": variant + ("+compile" if compiled else ""),
            "model": variant,
            "amp": self.args.amp,
            "compile": compiled,
            "parameters": sum(p.numel() for p in model.parameters()),
            "inference_parameters": sum(p.numel() for p in branch.parameters()),
            "step_ms": 1000 * train_s / self.args.steps,
            "train_samples_per_s": self.args.steps * self.args.batch / train_s,
            "peak_gib": peak,
            "data_wait_share": data_s / train_s,
            "infer_samples_per_s": n_inf * len(x_inf) / infer_s,
        }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    bench = Bench(args, device)
    compile_modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.compile]
    # eager first, the reference right after ours: a run cut short by a time limit still has
    # the comparisons that matter most (the JSON file is rewritten after every variant)
    plan = [(v, c) for c in compile_modes for v in ("base", "crossglg")]
    if args.reference:
        plan.insert(2, ("reference", False))  # eager, like the public code it stands for
    doc = {
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "settings": {k: v for k, v in vars(args).items() if k != "json_path"},
        "results": [],
        "errors": [],
        "speed_bar": SPEED_BAR,
    }
    for variant, compiled in plan:
        print(f"[gpu_train] {variant} compile={compiled} ...", file=sys.stderr, flush=True)
        try:
            doc["results"].append(bench.run(variant, compiled))
        except Exception as err:  # keep going: one failing variant must not lose the others
            doc["errors"].append({"variant": variant, "compile": compiled, "error": f"{type(err).__name__}: {err}",
                                  "trace": traceback.format_exc(limit=3)})  # fmt: skip
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        summarise(doc)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc, indent=1))
    print(table(doc), file=sys.stderr)
    return doc


def summarise(doc: dict) -> None:
    """The CrossGLG/base step-time ratio per compile setting, and the ratios to the reference."""
    rows = doc["results"]
    ratios = {}
    for compiled in (False, True):
        found = {r["model"]: r for r in rows if r["compile"] == compiled}
        if "base" in found and "crossglg" in found:
            ratios["compile" if compiled else "eager"] = (
                found["crossglg"]["step_ms"] / found["base"]["step_ms"]
            )
    doc["crossglg_over_base_step_time"] = ratios
    doc["against_reference"] = against_reference(rows)


# The public InfoGCN code on one H200, batch 128, 64 frames, 25 joints, 2 persons, SGD (issue #6)
SPEED_BAR = {
    "device": "NVIDIA H200",
    "train_samples_per_s": 930,
    "infer_samples_per_s": 3000,
    "peak_gib": 16.9,
}


def against_reference(rows: list[dict]) -> dict:
    """Each of our variants over the reference layout timed in the same run: the speed bar's
    ratios (goal: training ≥ 2×, memory ≤ 0.5×) on whatever card this is."""
    ref = next((r for r in rows if r["model"] == "reference"), None)
    if ref is None:
        return {}
    out = {}
    for r in rows:
        if r["model"] != "reference":
            peak = r["peak_gib"] / ref["peak_gib"] if r["peak_gib"] and ref["peak_gib"] else None
            out[r["variant"]] = {
                "train_speedup": r["train_samples_per_s"] / ref["train_samples_per_s"],
                "infer_speedup": r["infer_samples_per_s"] / ref["infer_samples_per_s"],
                "peak_memory_ratio": peak,
            }
    return out


def table(doc: dict) -> str:
    head = f"{'variant':<20}{'step ms':>9}{'train/s':>10}{'peak GiB':>10}{'data %':>8}{'infer/s':>10}"
    lines = [f"device: {doc['device']}  torch {doc['torch']}", head, "-" * len(head)]
    for r in doc["results"]:
        peak = "-" if r["peak_gib"] is None else f"{r['peak_gib']:.2f}"
        lines.append(
            f"{r['variant']:<20}{r['step_ms']:>9.1f}{r['train_samples_per_s']:>10.0f}{peak:>10}"
            f"{100 * r['data_wait_share']:>8.1f}{r['infer_samples_per_s']:>10.0f}"
        )
    for mode, ratio in doc["crossglg_over_base_step_time"].items():
        lines.append(f"CrossGLG/base step time ({mode}): {ratio:.3f}")
    for variant, r in doc["against_reference"].items():
        peak = "-" if r["peak_memory_ratio"] is None else f"{r['peak_memory_ratio']:.2f}x"
        lines.append(
            f"{variant} vs reference layout: train {r['train_speedup']:.2f}x, "
            f"infer {r['infer_speedup']:.2f}x, peak memory {peak}"
        )
    for e in doc["errors"]:
        lines.append(f"FAILED {e['variant']} compile={e['compile']}: {e['error']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` finds `bench`
    main()
