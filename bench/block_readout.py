"""``jfdtw`` read from an earlier block of a trained encoder: where novel-class information is lost.

``jfdtw`` matches the last block's per-joint features in time. A network trained to tell ten
auxiliary classes apart specialises most in its last blocks, so an earlier block may keep more
of what new classes need. For every block b of an exported run this reads the per-joint features
after b (present persons averaged), centres them on the auxiliary samples' per-joint mean at that
block, makes each frame unit length and matches by DTW, exactly as ``jfdtw`` does with the last
block (docs/TRAINING.md, "Read-outs"); the last block must give the run's own ``jfdtw``. Nothing is
trained. One result file per run; a rerun skips finished runs.

    python bench/block_readout.py --out runs/blocks --folds           # the 15 held-out runs
    python bench/block_readout.py --out runs/blocks --novel           # JEANIE novel + MSR → UTKinect, once
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from crossglg.outputs import write_whole

REPO = Path(__file__).resolve().parent.parent
FOLDS = tuple(f"rand{i}-held" for i in range(1, 6))
BATCH = 64


def block_frames(model, sequences: list[np.ndarray], blocks: int) -> list[np.ndarray]:
    """Per block, the per-joint features [N, T_b, V, C_b] of raw [T, M, V, 3] sequences, read
    through the export's test-time pipeline (the JID's weights applied as in the model)."""
    import torch

    from crossglg.data.preprocess import preprocess
    from crossglg.models.jid import person_average, person_mask

    branch = model.module.inner
    out: list[list[np.ndarray]] = [[] for _ in range(blocks)]
    for start in range(0, len(sequences), BATCH):
        x = preprocess(sequences[start : start + BATCH], layout=model.meta["layout"], train=False,
                       config=model.pipeline, device="cpu").x  # fmt: skip
        with torch.no_grad():
            mask, f, w = person_mask(x), branch.encoder.stem(x), None
            for i, block in enumerate(branch.encoder.blocks, start=1):
                f = block(f, w)
                if branch.jid is not None and i == branch.n_pre:
                    w = branch._joint_weight(branch.jid(f))
                out[i - 1].append(person_average(f, mask).permute(0, 2, 3, 1).numpy())
    return [np.concatenate(parts) for parts in out]


def block_hits(model, aux: list, exemplars: list, ex_labels, queries: list, truth) -> dict[str, list[float]]:
    """Per block (1-based, as JSON keys), each query's 1/0 under jfdtw read at that block."""
    from crossglg.train.oneshot import joint_cl2n, sequence_scores

    blocks = len(model.module.inner.encoder.blocks)
    centres = [f.mean((0, 1)) for f in block_frames(model, aux, blocks)]
    ex, qs = block_frames(model, exemplars, blocks), block_frames(model, queries, blocks)
    result = {}
    for b in range(blocks):
        classes, s = sequence_scores(joint_cl2n(ex[b], centres[b]), ex_labels, joint_cl2n(qs[b], centres[b]))
        result[str(b + 1)] = (classes[s.argmax(1)] == truth).astype(float).tolist()
    return result


def exported(run: Path) -> Path:
    """The run's export (written by `crossglg export` when missing)."""
    export = run / "export"
    if not (export / "export.json").is_file():
        command = Path(sys.executable).parent / "crossglg"
        subprocess.run(
            [str(command), "export", str(run), "--out", str(export)], check=True, capture_output=True
        )
    return export


def evaluate(
    run: Path,
    data_dir: Path,
    protocol: str,
    target: tuple[Path, str] | None = None,
    untrained: int | None = None,
) -> dict:
    """Per-block hits on the protocol's novel classes; with ``target`` (prepared data, protocol of
    another sensor) also there, the joints mapped into the model's layout as `crossglg transfer` does.
    ``untrained``: the control, the same network freshly initialised from this torch seed."""
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.train.export import ExportedModel
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    model = ExportedModel(exported(run))
    if untrained is not None:
        import torch

        from crossglg.models import build_inference_model

        torch.manual_seed(untrained)
        fresh = build_inference_model(model.meta["encoder"], model.meta["layout"], model.meta["model"])
        model.module.inner.load_state_dict(fresh.state_dict())
    data = open_prepared(data_dir)
    split = split_prepared(data, load_protocol(protocol, data.dataset))
    labels = np.asarray(data.labels)
    aux = [data.sequence(int(i)) for i in split.auxiliary]

    def read(ds, sp, mapping=None) -> tuple[list, np.ndarray, list, np.ndarray]:
        seqs = [[ds.sequence(int(i)) for i in idx] for idx in (sp.exemplar, sp.query)]
        if mapping is not None:
            seqs = [[x[:, :, mapping] for x in part] for part in seqs]
        lab = np.asarray(ds.labels)
        return seqs[0], lab[sp.exemplar], seqs[1], lab[sp.query]

    row = {"run": str(run), "novel": block_hits(model, aux, *read(data, split))}
    row["truth"] = labels[split.query].tolist()
    if target is not None:
        other = open_prepared(target[0])
        mapping = get_layout(other.layout).mapping_to(get_layout(model.meta["layout"]))
        other_split = split_prepared(other, load_protocol(target[1], other.dataset))
        row["transfer"] = block_hits(model, aux, *read(other, other_split, mapping))
    return row


def summary(rows: list[dict], key: str) -> dict:
    """Mean accuracy per block over runs, and each block's paired difference from the last block."""
    from crossglg.train.compare import paired_bootstrap

    blocks = sorted(int(b) for b in rows[0][key])
    last = str(blocks[-1])
    out = {}
    for b in map(str, blocks):
        diffs = [np.asarray(r[key][b]) - np.asarray(r[key][last]) for r in rows]
        point, lo, hi = paired_bootstrap(diffs)
        mean = float(np.mean([np.mean(r[key][b]) for r in rows]))
        level = int(sum(d.mean() >= 0 for d in diffs))
        out[b] = {"accuracy": mean, "minus_last": [point, lo, hi], "level_or_above": level}
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/blocks"), help="result files (resumable)")
    p.add_argument(
        "--splits",
        type=Path,
        default=Path("runs/splits"),
        help="bench/oneshot_eval.py's --random-holdout folder",
    )
    p.add_argument(
        "--oneshot", type=Path, default=Path("runs/oneshot"), help="bench/oneshot_eval.py's JEANIE folder"
    )
    p.add_argument("--seeds", type=int, default=3, help="runs of seeds 1..N per fold (--novel: 5)")
    p.add_argument(
        "--condition", default="base", help="bench/oneshot_eval.py's condition whose runs are read"
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--folds", action="store_true", help="the held-out runs of the five random folds")
    mode.add_argument("--novel", action="store_true", help="the JEANIE novel classes and MSR → UTKinect")
    p.add_argument(
        "--untrained", action="store_true", help="the control: each run's network freshly initialised"
    )
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = []
    tag = "" if args.condition == "base" else f"{args.condition}-"
    if args.folds:
        for fold in FOLDS:
            for s in range(1, args.seeds + 1):
                run = args.splits / "runs" / fold / f"{args.condition}-s{s}"
                jobs.append((f"{tag}{fold}-s{s}", run, args.splits / "prepared" / "msr",
                             str(args.splits / "protocols" / f"{fold}.toml"), None))  # fmt: skip
    else:
        target = (args.oneshot / "prepared" / "utk", "utkinect-all10")
        for s in range(1, args.seeds + 1):
            run = args.oneshot / "runs" / "jeanie" / f"{args.condition}-s{s}"
            jobs.append((f"{tag}jeanie-s{s}", run, args.oneshot / "prepared" / "msr", "msr-action3d", target))
    rows = []
    prefix = "untrained-" if args.untrained else ""
    for seed, (name, run, data_dir, protocol, target) in enumerate(jobs, start=1):
        path = args.out / f"{prefix}{name}.json"
        if not path.is_file():
            row = evaluate(run, data_dir, protocol, target, seed if args.untrained else None)
            write_whole(path, json.dumps(row), "result")
        row = json.loads(path.read_text())
        recorded = json.loads((run / "summary.json").read_text())["jfdtw"]
        last = np.mean(row["novel"][str(max(map(int, row["novel"])))])
        print(
            f"{prefix}{name}: last block {100 * last:.1f} (run's own jfdtw {100 * recorded:.1f})",
            file=sys.stderr,
        )
        rows.append(row)
    report = {key: summary(rows, key) for key in ("novel", "transfer") if key in rows[0]}
    name = prefix + ("report-novel.json" if args.novel else "report.json")
    write_whole(args.out / name, json.dumps(report, indent=1), "report")
    for key, blocks in report.items():
        print(f"\n{key}: block | accuracy | minus last block [95 %] | runs level or above")
        for b, r in blocks.items():
            point, lo, hi = (100 * v for v in r["minus_last"])
            print(
                f"{b} | {100 * r['accuracy']:.1f} | {point:+.1f} [{lo:+.1f}, {hi:+.1f}] | {r['level_or_above']}/{len(rows)}"
            )
    return report


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/block_readout.py` finds `bench`
    main()
