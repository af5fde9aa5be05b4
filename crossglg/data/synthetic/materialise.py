"""Synthetic actions on disk: a prepared cache (to train on) or raw NTU files (to test readers).

Samples are generated one at a time and streamed to disk, so a large set never sits in
memory; the raw folder can carry planted quirks and defects with a manifest saying which
file has what, so a reader's validation report can be checked against it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from crossglg.data.ntu_writer import FIRST_BODY_ID, Defects, write_skeleton
from crossglg.data.synthetic.generator import CAMERAS, SUBJECTS, generate_one, plan, sample_name
from crossglg.errors import UserError

MANIFEST = "defects.json"


def write_prepared(
    out: str | os.PathLike[str],
    n_per_class: int,
    seed: int = 0,
    *,
    classes: Sequence[int] | None = None,
    second_person: float = 0.2,
    noise: bool = True,
    force: bool = False,
    on_sample: Callable[[], None] | None = None,
) -> Path:
    """Generate straight into a prepared cache (``open_prepared(out)`` reads it), M = 2 slots."""
    from crossglg.data.prepared import PreparedWriter
    from crossglg.data.readers.base import Sample
    from crossglg.data.synthetic.actions import class_names
    from crossglg.data.validation import build_report, write_report

    pairs = plan(n_per_class, classes)
    writer = PreparedWriter(
        Path(out), dataset="synthetic", layout="ntu25", class_names=class_names(), persons=2, joints=25,
        overwrite=force,
    )  # fmt: skip
    source = f"synthetic:seed={seed},per_class={n_per_class},second_person={second_person},noise={noise}"
    try:
        for c, k in pairs:
            data = generate_one(c, k, seed, second_person=second_person, noise=noise)
            camera = k // SUBJECTS % CAMERAS + 1
            writer.add(
                Sample(
                    sample_name(c, k),
                    c - 1,
                    data,
                    subject=k % SUBJECTS + 1,
                    view=camera,
                    bodies=data.shape[1],
                )
            )
            if on_sample:
                on_sample()
        created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        info = {"source": source, "format": "synthetic", "dataset": "synthetic", "layout": "ntu25",
                "units": len(pairs), "created": created}  # fmt: skip
        lengths = np.asarray(writer.columns["lengths"], dtype=np.int64)
        report = build_report(
            scan_info=info,
            problems=[],
            names=writer.names,
            lengths=lengths,
            expected=None,
            expected_count=len(pairs),
        )
        write_report(writer.folder, report, lengths)
        return writer.commit({"source": source, "format_of_source": "synthetic", "created": created})
    except BaseException:
        writer.abort()
        raise


def standard_defects(names: Sequence[str]) -> dict[str, Defects]:
    """One file per quirk and per defect, then one with every quirk at once (docs/DATA.md, "`ntu-skeleton`: NTU RGB+D 60/120 raw files").

    Taken from the start of ``names`` (the caller passes them in a fixed order), so tests and
    reports can say exactly which file should be skipped and why.
    """
    each = [
        Defects(zero_body_frames=3),
        Defects(noise_body=True),
        Defects(crlf=True),
        Defects(truncate=True),
        Defects(wrong_joint_count=True),
        Defects(nan=True),
        Defects(zero_body_frames=2, noise_body=True, crlf=True),
    ]
    if len(names) < len(each):
        raise UserError(
            f"synthetic: planting every defect needs at least {len(each)} files, got {len(names)}"
        )
    return dict(zip(names, each, strict=False))


def write_raw(
    out: str | os.PathLike[str],
    n_per_class: int,
    seed: int = 0,
    *,
    classes: Sequence[int] | None = None,
    second_person: float = 0.2,
    noise: bool = True,
    defects: Mapping[str, Defects] | bool = False,
    on_sample: Callable[[], None] | None = None,
) -> dict[str, list[str]]:
    """Write ``SsssCcccPpppRrrrAaaa.skeleton`` files into ``out``; returns the defect manifest.

    ``defects``: per-name :class:`Defects`, or True for :func:`standard_defects`. The
    manifest (file stem → planted items) is also saved as ``defects.json`` beside them.
    Each sample keeps its body ids across frames, as a tracked Kinect body does.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = plan(n_per_class, classes)
    names = [sample_name(c, k) for c, k in pairs]
    chosen: Mapping[str, Defects] = standard_defects(names) if defects is True else (defects or {})
    unknown = set(chosen) - set(names)
    if unknown:
        raise UserError(f"synthetic: defects given for samples that are not generated: {sorted(unknown)[:3]}")
    for (c, k), name in zip(pairs, names, strict=True):
        data = generate_one(c, k, seed, second_person=second_person, noise=noise)
        ids = [FIRST_BODY_ID + 1000 * (c * 10_000 + k) + b for b in range(data.shape[1])]
        write_skeleton(
            folder / f"{name}.skeleton", data, body_ids=ids, defects=chosen.get(name), seed=seed + k
        )
        if on_sample:
            on_sample()
    manifest = {name: d.kinds() for name, d in chosen.items()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
