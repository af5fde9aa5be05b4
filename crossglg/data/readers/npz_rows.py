"""Read a row range of one array inside an ``.npz`` without loading the whole array.

CTR-GCN's ``NTU60_CS.npz`` holds a 7 GB ``x_train``; ``np.load`` would read all of it for
every chunk. Members written by ``np.savez`` are stored uncompressed, so a seek is cheap.
"""

from __future__ import annotations

import zipfile

import numpy as np


def _open(zf: zipfile.ZipFile, key: str):
    fh = zf.open(key + ".npy")
    version = np.lib.format.read_magic(fh)
    read_header = (
        np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(fh)
    if fortran:
        raise ValueError(f"{key}: Fortran-ordered arrays are not supported")
    return fh, shape, np.dtype(dtype)


def member_header(path: str, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one member, from its header alone: checked before any row is read."""
    with zipfile.ZipFile(path) as zf:
        fh, shape, dtype = _open(zf, key)
        fh.close()
    return tuple(shape), dtype


def member_shape(path: str, key: str) -> tuple[int, ...]:
    return member_header(path, key)[0]


def read_rows(path: str, key: str, start: int, stop: int) -> np.ndarray:
    with zipfile.ZipFile(path) as zf:
        fh, shape, dtype = _open(zf, key)
        with fh:
            row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            fh.seek(fh.tell() + start * row)
            buf = fh.read((stop - start) * row)
    return np.frombuffer(buf, dtype=dtype).reshape((stop - start, *shape[1:]))
