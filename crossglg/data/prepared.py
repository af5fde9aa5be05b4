"""The prepared cache: every sample's frames in one memory-mapped float32 file plus an index.

Layout of a prepared folder::

    frames.f32     float32 [sum(T_i), M, V, 3], samples back to back
    index.json     format marker, shape, layout, class names and per-sample
                   names / labels (0-based) / lengths / offsets / subjects / views / bodies / groups
    report.json, report.md, frames_histogram.png   the validation report

Training reads random samples millions of times; a memory map makes that a slice, with no
parsing and no per-file open. A folder is written under a temporary name and renamed into
place only when complete, so an interrupted prepare never leaves a cache that loads.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.data.readers.base import Sample, read_source_text
from crossglg.errors import UserError

FORMAT_MARKER = "crossglg-prepared"
VERSION = 1
FRAMES = "frames.f32"
INDEX = "index.json"
# every file of a prepared folder: an output of another command must never be written over one
CACHE_FILES = (INDEX, FRAMES, "report.json", "report.md", "frames_histogram.png")


@dataclass
class PreparedDataset:
    """A prepared cache opened for reading; ``sequence(i)`` is float32 [T_i, M, V, 3]."""

    root: Path
    dataset: str
    layout: str
    class_names: list[str]
    names: list[str]
    labels: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray
    subjects: np.ndarray
    views: np.ndarray
    bodies: np.ndarray
    frames: np.ndarray  # memory map [sum T, M, V, 3]
    meta: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # "" where the source has no split

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_persons(self) -> int:
        return int(self.frames.shape[1])

    @property
    def num_joints(self) -> int:
        return int(self.frames.shape[2])

    def sequence(self, i: int) -> np.ndarray:
        start = int(self.offsets[i])
        return np.array(self.frames[start : start + int(self.lengths[i])])

    def index_of(self, name: str) -> int:
        try:
            return self._positions[name]
        except KeyError:
            raise UserError(f"{self.root}: no sample named {name!r}") from None

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def summary(self) -> dict[str, Any]:
        counts = np.bincount(self.labels, minlength=len(self.class_names)) if len(self) else np.zeros(0, int)
        return {
            "path": str(self.root),
            "dataset": self.dataset,
            "layout": self.layout,
            "format": self.meta.get("format"),
            "source": self.meta.get("source"),
            "samples": len(self),
            "classes": len(self.class_names),
            "classes_present": int((counts > 0).sum()),
            "persons": self.num_persons,
            "joints": self.num_joints,
            "frames_total": int(self.lengths.sum()),
            "frames_min": int(self.lengths.min()) if len(self) else 0,
            "frames_max": int(self.lengths.max()) if len(self) else 0,
            "frames_mean": round(float(self.lengths.mean()), 2) if len(self) else 0.0,
            "subjects": sorted({int(s) for s in self.subjects if s >= 0}),
            "views": sorted({int(v) for v in self.views if v >= 0}),
            "two_person_samples": int((self.bodies >= 2).sum()),
            **self._report_summary(),
        }

    def _report_summary(self) -> dict[str, Any]:
        """What ``prepare`` skipped, from the report saved beside the cache."""
        path = self.root / "report.json"
        if not path.is_file():
            return {}
        report = _load_json(path, "prepare the data again")
        if not isinstance(report, dict):
            raise UserError(f"{path}: not a JSON object; prepare the data again")
        return {"skipped": report.get("skipped"), "problems_by_kind": report.get("problems_by_kind", {})}


def _load_json(path: Path, fix: str) -> Any:
    """The JSON in ``path``; a file that is not UTF-8 JSON is one line naming it and ``fix``."""
    text = read_source_text(path)  # not UTF-8: a UserError naming the file
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise UserError(f"{path}: unreadable ({str(err) or 'nested too deeply'}); {fix}") from None


def _is_ints(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _is_strs(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


INT_COLUMNS = ("labels", "lengths", "offsets", "subjects", "views", "bodies")


def _checked_index(path: Path) -> dict[str, Any]:
    """``index.json``, checked field by field: every command that opens prepared data comes here.

    The index is written by :class:`PreparedWriter`, but a hand-edited, truncated or foreign
    file must stop with the file and field named (a wrong ``layout`` type once printed as data),
    never a ``KeyError`` deep inside ``train`` or ``baseline``.
    """
    again = "prepare the data again"
    index = _load_json(path, again)
    if not isinstance(index, dict) or index.get("format") != FORMAT_MARKER or index.get("version") != VERSION:
        raise UserError(f"{path}: not a version-{VERSION} crossglg prepared index")

    def bad(field: str, what: str) -> UserError:
        return UserError(f"{path}: {field!r} must be {what}; {again}")

    for key in ("dataset", "layout"):
        if not isinstance(index.get(key), str):
            raise bad(key, "a name")
    if not _is_strs(index.get("class_names")) or not index["class_names"]:
        raise bad("class_names", "a non-empty list of names")
    shape = index.get("shape")
    if not _is_ints(shape) or len(shape) != 4 or min(shape) < 0 or shape[3] != 3:
        raise bad("shape", "[frames, persons, joints, 3]")
    from crossglg.vocab.layouts import get_layout

    try:
        joints = get_layout(index["layout"]).num_joints
    except UserError as err:
        raise UserError(f"{path}: 'layout': {err}; {again}") from None
    if shape[2] != joints:
        # prepare writes the layout's joints; another count was blamed on the checkpoint, or failed in a model
        raise bad("shape", f"[frames, persons, {joints}, 3] ({index['layout']} has {joints} joints)")
    samples = index.get("samples")
    if not isinstance(samples, dict):
        raise bad("samples", "an object of per-sample lists")
    if not _is_strs(samples.get("names")):
        raise bad("samples.names", "a list of names")
    n = len(samples["names"])
    for key in INT_COLUMNS:
        if not _is_ints(samples.get(key)) or len(samples[key]) != n:
            raise bad(f"samples.{key}", f"a list of {n} integers")
    if samples.get("groups") is not None and (not _is_strs(samples["groups"]) or len(samples["groups"]) != n):
        raise bad("samples.groups", f"a list of {n} names")
    if n:
        labels, lengths, offsets = (
            np.asarray(samples[k], dtype=np.int64) for k in ("labels", "lengths", "offsets")
        )
        if labels.min() < 0 or labels.max() >= len(index["class_names"]):
            raise bad("samples.labels", f"labels in 0..{len(index['class_names']) - 1}")
        if lengths.min() < 1:
            # prepare skips an empty sample; a 0 here failed as an IndexError inside eval and train
            raise bad("samples.lengths", "frame counts of at least 1")
        if offsets.min() < 0 or (offsets + lengths).max() > shape[0]:
            raise bad("samples.offsets", f"frame ranges inside the {shape[0]} frames of 'shape'")
        twice = [name for name, count in Counter(samples["names"]).items() if count > 1]
        if twice:  # protocols name exemplars and excluded samples by name: a repeated one would pick either
            raise bad("samples.names", f"unique names ({twice[0]!r} appears twice)")
    return index


def open_prepared(folder: str | os.PathLike[str]) -> PreparedDataset:
    root = Path(folder)
    index_path = root / INDEX
    if not index_path.is_file():
        raise UserError(f"{root}: not a prepared dataset (no {INDEX}); run `crossglg data prepare` first")
    index = _checked_index(index_path)
    shape = tuple(index["shape"])
    frames_path = root / FRAMES
    expected = int(np.prod(shape)) * 4
    if not frames_path.is_file() or frames_path.stat().st_size != expected:
        raise UserError(f"{frames_path}: missing or not {expected} bytes; prepare the data again")
    frames = (
        np.memmap(frames_path, dtype=np.float32, mode="r", shape=shape)
        if shape[0]
        else np.zeros(shape, np.float32)
    )
    s = index["samples"]
    return PreparedDataset(
        root=root,
        dataset=index["dataset"],
        layout=index["layout"],
        class_names=list(index["class_names"]),
        names=list(s["names"]),
        labels=np.asarray(s["labels"], dtype=np.int64),
        lengths=np.asarray(s["lengths"], dtype=np.int64),
        offsets=np.asarray(s["offsets"], dtype=np.int64),
        subjects=np.asarray(s["subjects"], dtype=np.int64),
        views=np.asarray(s["views"], dtype=np.int64),
        bodies=np.asarray(s["bodies"], dtype=np.int64),
        frames=frames,
        groups=list(s.get("groups") or [""] * len(s["names"])),
        meta={
            "source": index.get("source"),
            "format": index.get("format_of_source"),
            "created": index.get("created"),
        },
    )


class PreparedWriter:
    """Appends samples to a hidden folder beside ``out``; :meth:`commit` swaps it into place."""

    def __init__(self, out: Path, *, dataset: str, layout: str, class_names: list[str], persons: int,
                 joints: int, overwrite: bool = False) -> None:  # fmt: skip
        self.out = Path(out)
        if self.out.exists() and not overwrite:
            raise UserError(f"{self.out}: already exists; pass --force to replace it")
        if self.out.exists() and not (self.out / INDEX).is_file() and any(self.out.iterdir()):
            raise UserError(f"{self.out}: exists and is not a prepared dataset; refusing to replace it")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self.head = {"dataset": dataset, "layout": layout, "class_names": class_names}
        self.persons, self.joints = persons, joints
        self._fh = open(self.tmp / FRAMES, "wb")  # noqa: SIM115 - closed in commit/abort
        self.names: list[str] = []
        self.groups: list[str] = []
        self.columns: dict[str, list[int]] = {
            k: [] for k in ("labels", "lengths", "subjects", "views", "bodies")
        }
        self.total = 0

    def add(self, sample: Sample) -> None:
        d = sample.data
        if d.shape[1] < self.persons:  # pad missing person slots with zeros
            d = np.concatenate(
                [d, np.zeros((d.shape[0], self.persons - d.shape[1], *d.shape[2:]), d.dtype)], 1
            )
        self._fh.write(np.ascontiguousarray(d, dtype=np.float32).tobytes())
        self.names.append(sample.name)
        self.groups.append(sample.group)
        for key, value in (("labels", sample.label), ("lengths", len(d)), ("subjects", sample.subject),
                           ("views", sample.view), ("bodies", min(sample.bodies, self.persons))):  # fmt: skip
            self.columns[key].append(int(value))
        self.total += len(d)

    def commit(self, extra: dict[str, Any]) -> Path:
        """Write the index last, then rename: a reader sees the old cache or the whole new one."""
        self._fh.close()
        offsets = np.concatenate([[0], np.cumsum(self.columns["lengths"])[:-1]]) if self.names else []
        index = {
            "format": FORMAT_MARKER,
            "version": VERSION,
            **self.head,
            **extra,
            "shape": [self.total, self.persons, self.joints, 3],
            "samples": {
                "names": self.names,
                "groups": self.groups,
                **self.columns,
                "offsets": [int(o) for o in offsets],
            },
        }
        (self.tmp / INDEX).write_text(json.dumps(index, separators=(",", ":")))
        old = None
        if self.out.exists():
            old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
            self.out.rename(old)
        self.tmp.rename(self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    @property
    def folder(self) -> Path:
        """Where report files go before the commit (they move with the folder)."""
        return self.tmp

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
