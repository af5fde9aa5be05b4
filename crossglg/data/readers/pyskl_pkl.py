"""pyskl ``ntu60_3danno.pkl`` / ``ntu120_3danno.pkl`` (DATA.md §5): one pickle, every split.

The whole pickle must be unpickled at once, so it is streamed in the main process rather
than re-read by every worker. Keypoints are float16 (M, T, 25, 3) in camera metres.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crossglg.data.readers.base import Problem, Sample, Scan, UnitResult
from crossglg.data.readers.class_lists import packaged_class_names
from crossglg.data.readers.ntu_skeleton import parse_name
from crossglg.errors import UserError

FORMAT = "pyskl-pkl"


def scan(source: Path, dataset: str | None = None, class_file: Path | None = None, **_: object) -> Scan:
    if not source.is_file():
        raise UserError(f"{source}: expected pyskl's ntu60_3danno.pkl or ntu120_3danno.pkl")
    dataset = dataset or ("ntu120" if "120" in source.name else "ntu60")
    return Scan(
        FORMAT, dataset, "ntu25", packaged_class_names(dataset, class_file), 2, [str(source)], parallel=False
    )


def read_stream(unit: str) -> Iterator[UnitResult]:
    """Samples one at a time (the pickle is the only big thing held in memory)."""
    with open(unit, "rb") as fh:
        try:
            content = pickle.load(fh)  # the user's own data file: trusted like their code
        except (pickle.UnpicklingError, EOFError) as err:
            raise UserError(f"{unit}: not a readable pickle ({err})") from None
    if not isinstance(content, dict) or "annotations" not in content:
        raise UserError(f"{unit}: no 'annotations' list (is this a pyskl *_3danno.pkl?)")
    for k, ann in enumerate(content["annotations"]):
        name = str(ann.get("frame_dir", f"sample_{k:06d}"))
        kp = ann.get("keypoint")
        if kp is None or "label" not in ann:
            yield UnitResult(problems=[Problem(name, "unreadable", "annotation lacks 'keypoint' or 'label'")])
            continue
        kp = np.asarray(kp, dtype=np.float32)
        if kp.ndim != 4 or kp.shape[-1] != 3:
            yield UnitResult(
                problems=[Problem(name, "joints", f"keypoint shape {kp.shape}, expected (M, T, V, 3)")]
            )
            continue
        fields = parse_name(name)
        subject, view = (fields[2], fields[1]) if fields else (-1, -1)
        data = np.ascontiguousarray(kp.transpose(1, 0, 2, 3))
        yield UnitResult(
            [Sample(name, int(ann["label"]), data, subject=subject, view=view, bodies=kp.shape[0])]
        )
