"""Activation memory and step time of each encoder, base vs +CrossGLG, fp32 vs bf16 autocast.

InfoGCN is also measured with per-frame attention (``encoder.attention = "frame"``) and in the
reference code's layout (``bench/reference_infogcn.py``), so the speed bar's comparison is made
on one device in one run.

Activation memory is what autograd keeps for the backward pass (unique tensor storages seen
by ``saved_tensors_hooks``), per sample; it is what bounds the training batch on a GPU and
can be measured on a CPU. Step time is one forward + backward on the chosen device.

    python bench/models_memory.py                      # batch 8, 64 frames, CPU or CUDA
    python bench/models_memory.py --batch 2 --frames 8 --steps 1 --warmup 0   # smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def saved_bytes(model, x, text, y, k_gt, amp) -> int:
    """Bytes of distinct storages autograd saves during one forward + loss."""
    import torch

    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen.setdefault(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), amp():
        out = model(x, text)
        loss, _ = model.loss(out, y, k_gt)
    loss.backward()
    return sum(seen.values())


# aten calls that only create views or read metadata: no kernel runs for them on a GPU
# fmt: off
VIEW_OPS = frozenset({
    "alias", "as_strided", "chunk", "detach", "empty", "empty_like", "expand", "lift_fresh", "permute",
    "reshape", "select", "slice", "split", "split_with_sizes", "squeeze", "t", "transpose", "unbind",
    "unsqueeze", "view", "_reshape_alias", "_unsafe_view",
})
# fmt: on


def kernel_ops(model, x, text, y, k_gt) -> int:
    """Aten operations of one forward + loss + backward that launch work, a device-free proxy
    for the kernel-launch overhead that bounds small graph convolutions on a GPU."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ not in VIEW_OPS:
                Count.calls += 1
            return func(*args, **(kwargs or {}))

    with Count():
        loss, _ = model.loss(model(x, text), y, k_gt)
        loss.backward()
    return Count.calls


def step_seconds(model, x, text, y, k_gt, amp, steps: int, warmup: int, sync) -> float:
    for _ in range(warmup):  # allocator, cudnn autotune
        with amp():
            loss, _ = model.loss(model(x, text), y, k_gt)
        loss.backward()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        with amp():
            loss, _ = model.loss(model(x, text), y, k_gt)
        loss.backward()
    sync()
    return (time.perf_counter() - t0) / steps


def variants(classes: int) -> list[tuple[str, bool, object]]:
    """(label, with text, builder): every encoder base and +CrossGLG, then InfoGCN's attention
    forms side by side with the reference layout (bench/reference_infogcn.py)."""
    from bench.reference_infogcn import ReferenceInfoGCN
    from crossglg.models import build_model

    def ours(encoder: str, text: bool, attention: str = "pooled"):
        extra = {"encoder": {"attention": attention}} if attention != "pooled" else {}
        return lambda: build_model(
            encoder, "ntu25", classes, {"use_text": text, "l2g": {"text_dim": 768}, **extra}
        )

    rows = [(e, t, ours(e, t)) for e in ("infogcn", "stgcn", "ctrgcn") for t in (False, True)]
    rows.append(("infogcn-frame", False, ours("infogcn", False, "frame")))
    rows.append(("reference-infogcn", False, lambda: ReferenceInfoGCN("ntu25", classes)))
    return rows


def run(batch: int, frames: int, steps: int, warmup: int, device: str) -> list[dict]:
    import contextlib

    import torch

    dev_type = "cuda" if device.startswith("cuda") else "cpu"
    sync = torch.cuda.synchronize if dev_type == "cuda" else (lambda: None)
    rows = []
    for encoder, use_text, build in variants(60):
        torch.manual_seed(0)
        model = build().to(device)
        x = torch.randn(batch, 3, frames, 25, 2, device=device)
        y = torch.arange(batch, device=device) % 60
        text = torch.randn(batch, 6, 768, device=device) if use_text else None
        k_gt = torch.softmax(torch.randn(batch, 25, device=device), -1) if use_text else None
        row = {"encoder": encoder, "crossglg": use_text, "batch": batch, "frames": frames, "device": device}
        row["kernel_ops_per_step"] = kernel_ops(model, x, text, y, k_gt)
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):

            def amp(dtype=dtype):
                if dtype is None:
                    return contextlib.nullcontext()
                return torch.autocast(dev_type, dtype=dtype)

            row[f"saved_mb_per_sample_{name}"] = saved_bytes(model, x, text, y, k_gt, amp) / batch / 1e6
            if dev_type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            row[f"step_s_{name}"] = step_seconds(model, x, text, y, k_gt, amp, steps, warmup, sync)
            if dev_type == "cuda":
                row[f"peak_gb_{name}"] = torch.cuda.max_memory_allocated() / 1e9
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="", help="default: cuda when available, else cpu")
    args = p.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = run(args.batch, args.frames, args.steps, args.warmup, device)
    print(json.dumps(rows, indent=2))
    for r in rows:
        print(
            f"{r['encoder']:17s} {'+CrossGLG' if r['crossglg'] else 'base':9s} "
            f"saved/sample fp32 {r['saved_mb_per_sample_fp32']:6.1f} MB  bf16 {r['saved_mb_per_sample_bf16']:6.1f} MB  "
            f"step fp32 {r['step_s_fp32']:.3f}s  bf16 {r['step_s_bf16']:.3f}s  ops {r['kernel_ops_per_step']}"
        )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` finds `bench`
    main()
