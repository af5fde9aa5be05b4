"""What every reader hands to ``prepare``: samples, problems and a scan of the source.

Readers split a source into *units* (usually one file each) so that ``prepare`` can parse
them in worker processes; a unit is a small picklable value. A broken unit or sample becomes
a :class:`Problem` in the validation report instead of an exception, so one bad file never
stops a run of a hundred thousand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.errors import UserError
from crossglg.inputs import read_input_text

UNKNOWN = -1  # subject or view that a format does not record


@dataclass
class Sample:
    """One action clip in the common layout: float32 ``data`` [T, M, V, 3]; label 0-based."""

    name: str
    label: int
    data: np.ndarray
    subject: int = UNKNOWN
    view: int = UNKNOWN
    bodies: int = 0  # persons really present (<= M); 0 means "count the non-zero slots"
    group: str = ""  # the source's own partition, e.g. PKU-MMD's cross-subject "train"/"validation"

    def __post_init__(self) -> None:
        if self.bodies == 0 and self.data.ndim == 4:
            # summed per person slot without a reshape, so a zero-frame sample (skipped later by
            # validation.check_data) cannot fail here and take its neighbours down with it
            self.bodies = int((np.abs(self.data).sum(axis=(0, 2, 3)) > 0).sum())


@dataclass(frozen=True)
class Problem:
    """A reason a file or sample was skipped (or a note about the source); one line each."""

    where: str  # file or sample name
    # unreadable | truncated | joints | length | nan | empty | one-frame | all-zero | persons | bad-label
    # | duplicate | outside (a link out of the source folder)
    # | label | missing | official-missing (the last three are notes: validation.NOTE_KINDS)
    kind: str
    message: str
    # samples this problem cost: a unit that fails as a whole (an .npz chunk, a UTKinect
    # recording) loses all it holds, and the report's "skipped" count says so (docs/DATA.md)
    samples: int = 1

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"where": self.where, "kind": self.kind, "message": self.message}
        if self.samples != 1:
            out["samples"] = self.samples
        return out


@dataclass
class UnitResult:
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Scan:
    """A source, listed: the work units plus everything the cache index needs up front."""

    format: str
    dataset: str
    layout: str
    class_names: list[str]
    max_bodies: int
    units: list[Any]
    # names the official lists say should be there (None: the format has no such list)
    expected: list[str] | None = None
    expected_count: int | None = None  # documented number of usable samples, when known
    problems: list[Problem] = field(default_factory=list)  # found while scanning
    # units are parsed in worker processes unless the reader streams one big file itself
    parallel: bool = True


class ReadError(Exception):
    """A file that cannot be parsed; carries the report's problem kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def read_floats(path: Path) -> np.ndarray:
    """All whitespace-separated numbers of a text file (any line endings), as float64.

    The error gives the position of the first bad token, never the token itself: a file
    that is not skeleton data (a stray symlink to a private file) must not be echoed into
    the report.
    """
    tokens = Path(path).read_bytes().split()
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        first = next(i for i, t in enumerate(tokens) if not _is_float(t))
        raise ReadError("unreadable", f"not a table of numbers (token {first + 1} is not a number)") from None


def plain_reason(err: BaseException) -> str:
    """One plain line for a file that could not be read, for the report and for ``predict``.

    numpy and json signal a bad file with exceptions whose own text is no help to a user
    (``EOFError`` for an empty ``.npy``, ``RecursionError`` for deeply nested JSON,
    ``[Errno 21]`` for a folder named like a sample), so each gets a sentence instead.
    """
    if isinstance(err, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(err, EOFError):
        return "the file is empty or cut short"
    if isinstance(err, RecursionError):
        return "nested too deeply to be an array"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (bad byte at offset {err.start})"
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    return str(err) or type(err).__name__


def read_source_text(path: Path) -> str:
    """The whole text of a file a scan needs (a label table, a class table, an index), UTF-8 only.

    A scan cannot go on without such a file, so a folder in its place, an unreadable file or
    bytes that are not UTF-8 become one :class:`UserError` naming the file, never a traceback.
    """
    try:
        return read_input_text(path, "file the reader needs")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: {plain_reason(err)}") from None


def _is_float(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def add_sample(result: UnitResult, name: str, build: Callable[[], Sample]) -> None:
    """Append ``build()`` to ``result``, or a problem naming ``name`` when building it fails.

    Readers of multi-sample units (an .npz chunk, a pickle, a recording cut into segments)
    build each sample through this, so one malformed sample costs exactly one sample.
    """
    try:
        result.samples.append(build())
    except ReadError as err:
        result.problems.append(Problem(name, err.kind, str(err)))
    except (ValueError, TypeError, IndexError, KeyError, OverflowError) as err:
        result.problems.append(Problem(name, "unreadable", f"{type(err).__name__}: {err}"))


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``, symlinks followed, stays inside ``root``: data names never escape the source."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


def trim_padding(data: np.ndarray) -> np.ndarray:
    """Drop the all-zero frames that fixed-length formats append after the last real frame.

    Padding is exact zeros: a NaN frame is kept, so the sample checks name the NaN instead
    of an all-NaN sample vanishing as "no frames".
    """
    real = np.flatnonzero((data != 0).reshape(len(data), -1).any(axis=1))
    return data[: real[-1] + 1] if real.size else data[:0]
