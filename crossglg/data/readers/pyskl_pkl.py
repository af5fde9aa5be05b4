"""pyskl ``ntu60_3danno.pkl`` / ``ntu120_3danno.pkl`` (docs/DATA.md, "`pyskl-pkl`: pyskl `ntu60_3danno.pkl` / `ntu120_3danno.pkl`"): one pickle, every split.

The whole pickle must be unpickled at once, so it is streamed in the main process rather
than re-read by every worker. Keypoints are float16 (M, T, 25, 3) in camera metres.

A pickle can name any Python callable; the unpickler here resolves only the numpy array
constructors such a file needs and refuses every other global, so a crafted file cannot run
code. Still treat pickles as trusted input (docs/SECURITY.md): prefer the generic .npz.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crossglg.data.readers import READERS
from crossglg.data.readers.base import ReadError, Sample, Scan, UnitResult, add_sample
from crossglg.data.readers.ntu_skeleton import parse_name
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes

FORMAT = "pyskl-pkl"


def scan(source: Path, dataset: str | None = None, class_file: Path | None = None, **_: object) -> Scan:
    if not source.is_file():
        raise UserError(f"{source}: expected pyskl's ntu60_3danno.pkl or ntu120_3danno.pkl")
    dataset = dataset or ("ntu120" if "120" in source.name else "ntu60")
    return Scan(
        FORMAT,
        dataset,
        "ntu25",
        load_classes(class_file or dataset).label_names(),
        2,
        [str(source)],
        parallel=False,
    )


# the globals a pickle of dicts, lists, strings, numbers and numpy arrays refers to
_ALLOWED_GLOBALS = frozenset(
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
) | {("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict")}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"it refers to {module}.{name}, which a pyskl annotation file never needs; "
                "refusing to load it (convert the data to the generic .npz format, docs/DATA.md)"
            )
        return super().find_class(module, name)


def read_stream(unit: str) -> Iterator[UnitResult]:
    """Samples one at a time (the pickle is the only big thing held in memory)."""
    with open(unit, "rb") as fh:
        try:
            content = _ArrayUnpickler(fh).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
            raise UserError(f"{unit}: not a readable pyskl pickle ({err})") from None
    if not isinstance(content, dict) or not isinstance(content.get("annotations"), list):
        raise UserError(f"{unit}: no 'annotations' list (is this a pyskl *_3danno.pkl?)")
    for k, ann in enumerate(content["annotations"]):
        name = str(ann.get("frame_dir", f"sample_{k:06d}")) if isinstance(ann, dict) else f"sample_{k:06d}"
        result = UnitResult()
        add_sample(result, name, lambda ann=ann, name=name: _annotation_sample(ann, name))
        yield result


def _annotation_sample(ann: object, name: str) -> Sample:
    """One annotation dict as a sample; raises for this annotation alone."""
    if not isinstance(ann, dict) or ann.get("keypoint") is None or "label" not in ann:
        raise ReadError("unreadable", "annotation lacks 'keypoint' or 'label'")
    kp = np.asarray(ann["keypoint"], dtype=np.float32)
    if kp.ndim != 4 or kp.shape[-1] != 3:
        raise ReadError("joints", f"keypoint shape {kp.shape}, expected (M, T, V, 3)")
    fields = parse_name(name)
    subject, view = (fields[2], fields[1]) if fields else (-1, -1)
    data = np.ascontiguousarray(kp.transpose(1, 0, 2, 3))
    return Sample(name, int(ann["label"]), data, subject=subject, view=view, bodies=kp.shape[0])


READERS.register(FORMAT)(sys.modules[__name__])
