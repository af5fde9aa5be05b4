"""CTR-GCN ``NTU60_CS/CV.npz``, ``NTU120_CSub/CSet.npz`` (docs/DATA.md, "`ctrgcn-npz`"): x (N, 300, 150), one-hot y.

The arrays carry no sample names, and the one-shot exemplars are chosen by name. With
``--names`` (CTR-GCN's ``statistics/skes_available_name.txt``, the sorted usable names) the
order is rebuilt exactly: the file's names filtered by the split rule of CTR-GCN's preprocessing, train then
test. Without it samples are called ``train_000000``…, and name-based protocols will refuse.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from crossglg.data.readers import READERS
from crossglg.data.readers.base import Sample, Scan, UnitResult, add_sample, read_source_text, trim_padding
from crossglg.data.readers.npz_rows import member_shape, read_rows
from crossglg.data.readers.ntu_skeleton import parse_name
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes

FORMAT = "ctrgcn-npz"
CHUNK = 1024
_CS = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
_CSUB = _CS | {45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
               89, 91, 92, 93, 94, 95, 97, 98, 100, 103}  # fmt: skip
# split → is this (setup, camera, subject, replication, action) in the training part?
IS_TRAIN = {
    "CS": lambda f: f[2] in _CS,
    "CV": lambda f: f[1] in (2, 3),
    "CSub": lambda f: f[2] in _CSUB,
    "CSet": lambda f: f[0] % 2 == 0,
}
_FILE = re.compile(r"NTU(60|120)_(CSub|CSet|CS|CV)")


def _split_names(names_file: Path, split: str, n_train: int, n_test: int) -> dict[str, list[str]]:
    names = sorted(read_source_text(names_file).split())
    bad = next((n for n in names if parse_name(n) is None), None)
    if bad is not None:
        raise UserError(f"{names_file}: {bad!r} is not an NTU sample name")
    train = [n for n in names if IS_TRAIN[split](parse_name(n))]
    test = [n for n in names if not IS_TRAIN[split](parse_name(n))]
    if (len(train), len(test)) != (n_train, n_test):
        raise UserError(
            f"{names_file}: gives {len(train)} train / {len(test)} test names for split {split}, "
            f"the npz holds {n_train} / {n_test}: not the names file of this npz"
        )
    return {"train": train, "test": test}


def scan(source: Path, names_file: Path | None = None, class_file: Path | None = None, **_: object) -> Scan:
    m = _FILE.search(source.name)
    if not source.is_file() or m is None:
        raise UserError(f"{source}: expected a CTR-GCN file named NTU60_CS/CV.npz or NTU120_CSub/CSet.npz")
    dataset, split = f"ntu{m.group(1)}", m.group(2)
    try:
        sizes = {part: member_shape(str(source), f"x_{part}")[0] for part in ("train", "test")}
        for part in sizes:
            member_shape(str(source), f"y_{part}")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise UserError(
            f"{source}: not a CTR-GCN npz with x_train, y_train, x_test, y_test ({err})"
        ) from None
    names = _split_names(names_file, split, sizes["train"], sizes["test"]) if names_file else None
    units = []
    for part, n in sizes.items():
        for s in range(0, n, CHUNK):
            stop = min(s + CHUNK, n)
            units.append((str(source), part, s, stop, names[part][s:stop] if names else None))
    return Scan(FORMAT, dataset, "ntu25", load_classes(class_file or dataset).label_names(), 2, units)


def to_sample(row: np.ndarray, onehot: np.ndarray, name: str) -> Sample:
    """One (300, 150) row → [T, 2, 25, 3] with padding cut and the second slot made explicit.

    NTU-120's converter copies actor 1 into an empty second slot, NTU-60's leaves zeros
    (CTR-GCN's preprocessing keeps a second body slot of zeros); both become zeros with ``bodies = 1``.
    """
    data = trim_padding(row.reshape(-1, 2, 25, 3).astype(np.float32))
    second = data[:, 1]
    single = not np.any(second) or np.array_equal(second, data[:, 0])
    if single:
        data = data.copy()
        data[:, 1] = 0
    fields = parse_name(name)
    subject, view = (fields[2], fields[1]) if fields else (-1, -1)
    return Sample(name, int(np.argmax(onehot)), data, subject=subject, view=view, bodies=1 if single else 2)


def unit_samples(unit: tuple) -> int:
    return unit[3] - unit[2]


def read_unit(unit: tuple) -> UnitResult:
    path, part, start, stop, names = unit
    x = read_rows(path, f"x_{part}", start, stop)
    y = read_rows(path, f"y_{part}", start, stop)
    names = names or [f"{part}_{i:06d}" for i in range(start, stop)]
    result = UnitResult()
    for i in range(len(x)):
        add_sample(result, names[i], lambda i=i: to_sample(x[i], y[i], names[i]))
    return result


READERS.register(FORMAT)(sys.modules[__name__])
