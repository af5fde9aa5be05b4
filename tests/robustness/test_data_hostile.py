"""Hostile sample files, class lists and prepared indexes: one line naming the file, never a trace.

Each case once ended in ``aborted`` (numpy's EOFError turned into click's Abort), in
``internal error: ...`` (BadZipFile, UnicodeDecodeError, RecursionError, KeyError), in a raw
exception repr inside the report, or in exit 0 with an empty or silently mislabelled cache.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from crossglg.data.prepare import prepare
from crossglg.data.prepared import open_prepared
from crossglg.errors import UserError
from tests.helpers import run_script


def _moving(n: int, t: int = 6, v: int = 25) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, 1, v, 3)) + 0.1 * rng.normal(size=(n, t, v, 3))).astype(np.float32)


def _npz(path: Path, n: int = 4, **override: object) -> Path:
    """A valid generic .npz of ``n`` samples, with ``override`` replacing or adding keys."""
    keys: dict[str, object] = {
        "x": _moving(n),
        "labels": np.arange(n) % 2,
        "names": np.array([f"s{i}" for i in range(n)]),
        "class_names": np.array(["a", "b"]),
        **override,
    }
    np.savez(path, **keys)
    return path


def _folder(root: Path, files: dict[str, bytes], rows: str = "x1\t0\n") -> Path:
    """A generic folder: classes.txt, labels.tsv with ``rows`` and the given sample files."""
    root.mkdir()
    (root / "classes.txt").write_text("a\nb\n")
    (root / "labels.tsv").write_text("name\tlabel\n" + rows)
    for name, body in files.items():
        (root / name).write_bytes(body)
    return root


def _msr(root: Path, n: int = 3) -> Path:
    root.mkdir()
    rng = np.random.default_rng(1)
    for a in range(1, n + 1):
        np.savetxt(root / f"a{a:02d}_s01_e01_skeleton3D.txt", rng.normal(size=(5 * 20, 4)), fmt="%.4f")
    return root


def _prepare_cli(*args: object):
    return run_script("crossglg", "data", "prepare", *args)


def _refused(proc, *parts: str) -> None:
    """Exit 2 with one ``error:`` line naming every part; no trace, no ``internal error``."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for part in parts:
        assert part in lines[0], lines[0]


# --- bug 1: --classes given is honoured or refused --------------------------------------------


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_msr_classes_that_is_not_a_file_is_refused(tmp_path, what):
    src = _msr(tmp_path / "msr")
    classes = tmp_path / "classes.tsv"
    if what == "folder":
        classes.mkdir()
    proc = _prepare_cli(src, "--format", "msr-action3d", "--out", tmp_path / "out", "--classes", classes)
    _refused(proc, str(classes), "--classes")
    assert not (tmp_path / "out").exists()


def test_utkinect_honours_a_given_class_file(tmp_path):
    root = tmp_path / "utk"
    (root / "joints").mkdir(parents=True)
    rows = [[f, *np.random.default_rng(f).normal(size=60)] for f in range(10, 40)]
    np.savetxt(root / "joints" / "joints_s01_e01.txt", rows, fmt="%.4f")
    (root / "joints" / "actionLabel_modified.txt").write_text("s01_e01\nwalk: 10 20\nsitDown: 21 30\n")
    (tmp_path / "mine.txt").write_text("walk\nsit down\n")
    prepare(root, "utkinect", tmp_path / "out", workers=1, options={"class_file": tmp_path / "mine.txt"})
    assert open_prepared(tmp_path / "out").class_names == ["walk", "sit down"]  # not the built-in 10


@pytest.mark.parametrize(
    ("flag", "value"), [("--dataset", "bogus"), ("--layout", "bogus"), ("--label-file", "bogus")]
)
def test_dry_run_refuses_an_invalid_option_value(tmp_path, flag, value):
    src = _msr(tmp_path / "msr")
    proc = _prepare_cli(src, "--format", "msr-action3d", "--out", tmp_path / "out", "--dry-run", flag, value)
    _refused(proc, "bogus")


# --- bugs 2, 3, 4 (whole-file faults) and 5: refused in one line, nothing written ---------------


def _truncated(d: Path) -> Path:
    (d / "t.npz").write_bytes(_npz(d / "ok.npz").read_bytes()[:3000])  # was BadZipFile
    return d / "t.npz"


def _empty_npz(d: Path) -> Path:
    (d / "e.npz").write_bytes(b"")  # numpy's EOFError became click's bare "aborted"
    return d / "e.npz"


def _labels_not_utf8(d: Path) -> Path:
    root = _folder(d / "f", {"x1.npy": b""})
    (root / "labels.tsv").write_bytes(b"name\tlabel\nx\xff1\t0\n")  # was UnicodeDecodeError
    return root


def _utkinect_not_utf8(d: Path) -> Path:
    (d / "utk" / "joints").mkdir(parents=True)
    (d / "utk" / "joints" / "actionLabel_modified.txt").write_bytes(b"s01_e01\nwalk: 1 \xff\n")
    return d / "utk"


def _utkinect_empty(d: Path) -> Path:
    (d / "utk" / "joints").mkdir(parents=True)
    (d / "utk" / "joints" / "actionLabel_modified.txt").write_text("")
    return d / "utk"


SOURCES = {
    "empty-npz": (_empty_npz, "generic", "empty or cut short"),
    "truncated-npz": (_truncated, "generic", "not a readable .npz"),
    "class-names-0d": (lambda d: _npz(d / "c.npz", class_names=np.array("ab")), "generic", "class_names"),
    "no-samples-npz": (lambda d: _npz(d / "n0.npz", n=0), "generic", "no samples"),
    "names-short": (lambda d: _npz(d / "n.npz", names=np.array(["s0", "s1"])), "generic", "names"),
    "subjects-short": (lambda d: _npz(d / "s.npz", subjects=np.array([1])), "generic", "subjects"),
    "labels-text": (lambda d: _npz(d / "l.npz", labels=np.array(list("abab"))), "generic", "labels"),
    "labels-fraction": (lambda d: _npz(d / "l.npz", labels=np.full(4, 0.5)), "generic", "labels"),
    "x-complex": (lambda d: _npz(d / "x.npz", x=_moving(4).astype(np.complex64)), "generic", "complex64"),
    "header-only": (lambda d: _folder(d / "f", {}, rows=""), "generic", "no samples"),
    "labels-not-utf8": (_labels_not_utf8, "generic", "labels.tsv: not UTF-8"),
    "layout-unknown": (
        lambda d: _folder(d / "f", {"layout.txt": b"\xc3\xbf\n", "x1.npy": b""}),
        "generic",
        "f/layout.txt: unknown",
    ),
    "utkinect-not-utf8": (_utkinect_not_utf8, "utkinect", "actionLabel_modified.txt: not UTF-8"),
    "utkinect-no-labels": (_utkinect_empty, "utkinect", "no samples"),
}


@pytest.mark.parametrize("case", SOURCES)
def test_a_source_that_cannot_be_prepared_is_refused_in_one_line(tmp_path, case):
    make, fmt, named = SOURCES[case]
    src = make(tmp_path)
    proc = _prepare_cli(src, "--format", fmt, "--out", tmp_path / "out")
    _refused(proc, str(src), named)
    assert not (tmp_path / "out").exists()


# --- bugs 2, 3, 4 (per-sample faults): reported with a plain reason and skipped ------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the file is empty or cut short"),  # EOFError aborted the whole run
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply to be an array"),  # RecursionError
        (b"[\xff]", "not UTF-8 text"),
    ],
    ids=["empty-npy", "deep-json", "json-not-utf8"],
)
def test_one_unreadable_sample_file_is_reported_and_skipped(tmp_path, body, reason):
    ext = ".npy" if not body.startswith(b"[") else ".json"
    good = np.ascontiguousarray(_moving(1)[0])
    src = _folder(tmp_path / "f", {f"x1{ext}": body}, rows="x1\t0\nx2\t1\n")
    np.save(src / "x2.npy", good)
    report = prepare(src, "generic", tmp_path / "out", workers=1)
    assert report["samples"] == 1
    (problem,) = report["problems"]
    assert problem["where"] == str(src / f"x1{ext}") and problem["kind"] == "unreadable"
    assert problem["message"].startswith(reason), problem["message"]


def test_a_folder_named_like_an_msr_file_is_reported_plainly(tmp_path):
    src = _msr(tmp_path / "msr")
    (src / "a09_s01_e01_skeleton3D.txt").mkdir()
    report = prepare(src, "msr-action3d", tmp_path / "out", workers=1)
    (problem,) = report["problems"]
    assert problem["message"] == "a folder, not a file"  # was "IsADirectoryError: [Errno 21] ..."


def test_a_pipe_named_like_an_msr_file_is_skipped_not_waited_on(tmp_path):
    """Reading a named pipe waits for a writer: ``data prepare`` hung until killed."""
    src = _msr(tmp_path / "msr")
    os.mkfifo(src / "a09_s01_e01_skeleton3D.txt")
    proc = run_script(
        "crossglg", "data", "prepare", src, "--format", "msr-action3d", "--out", tmp_path / "out", timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    (problem,) = json.loads((tmp_path / "out" / "report.json").read_text())["problems"]
    assert problem["where"] == str(src / "a09_s01_e01_skeleton3D.txt") and problem["kind"] == "unreadable"
    assert problem["message"] == "not a regular file (a device, pipe or socket)"
    assert len(open_prepared(tmp_path / "out")) == 3


def test_a_pipe_as_the_source_is_refused(tmp_path):
    pipe = tmp_path / "data.pkl"
    os.mkfifo(pipe)
    proc = _prepare_cli(pipe, "--format", "pyskl-pkl", "--out", tmp_path / "out")
    _refused(
        proc, f"{pipe}: not a regular file (a device, pipe or socket); name the dataset's folder or file"
    )
    assert not (tmp_path / "out").exists() and pipe.is_fifo()


def test_an_all_nan_sample_is_reported_as_nan_not_as_empty(tmp_path):
    x = _moving(3)
    x[1] = np.nan
    report = prepare(_npz(tmp_path / "n.npz", n=3, x=x), "generic", tmp_path / "out", workers=1)
    (problem,) = report["problems"]
    assert (problem["where"], problem["kind"]) == ("s1", "nan")


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"", "empty or cut short"), (b"[" * 100_000 + b"]" * 100_000, "nested too deeply")],
    ids=["empty-npy", "deep-json"],
)
def test_predict_names_an_unreadable_query_file(tmp_path, body, reason):
    """``crossglg predict`` reads query and exemplar files through this before any model runs."""
    from crossglg.train.export import read_sequence

    path = tmp_path / ("q.npy" if not body else "q.json")
    path.write_bytes(body)
    with pytest.raises(UserError, match=rf"^{path}: .*{reason}"):
        read_sequence(path, "ntu25")


# --- bug 3: a damaged index.json of a prepared folder -------------------------------------------


@pytest.fixture(scope="module")
def prepared_folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("prep")
    prepare(_npz(d / "ok.npz"), "generic", d / "out", workers=1)
    return d / "out"


def _edit(index: dict, change: str) -> object:
    if change == "list":
        return [1, 2]
    if change == "no-samples":
        return {k: v for k, v in index.items() if k != "samples"}
    if change == "layout-int":
        return {**index, "layout": 5}
    if change == "class-names-str":
        return {**index, "class_names": "abc"}
    if change == "unknown-layout":
        return {**index, "layout": "zzz"}
    if change == "joints-of-another-layout":  # the frames hold 25 joints; kinect20 has 20
        return {**index, "layout": "kinect20"}
    samples = index["samples"]
    if change == "empty-sample":  # eval ended in an IndexError
        return {**index, "samples": {**samples, "lengths": [*samples["lengths"][:-1], 0]}}
    if change == "names-twice":  # a protocol's exemplar by name would have been either sample
        return {**index, "samples": {**samples, "names": [samples["names"][0]] * len(samples["names"])}}
    return {**index, "samples": {**index["samples"], "labels": [0, 1, 9, 0]}}  # label-range


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("bytes", "not UTF-8"),
        ("list", "not a version-1"),
        ("no-samples", "'samples'"),
        ("layout-int", "'layout'"),
        ("class-names-str", "'class_names'"),
        ("label-range", "'samples.labels'"),
        ("unknown-layout", "'layout': unknown skeleton layout 'zzz'"),
        ("joints-of-another-layout", "'shape' must be [frames, persons, 20, 3] (kinect20 has 20 joints)"),
        ("empty-sample", "'samples.lengths' must be frame counts of at least 1"),
        ("names-twice", "'samples.names' must be unique names"),
    ],
)
def test_a_damaged_index_is_refused_naming_the_field(tmp_path, prepared_folder, change, named):
    folder = tmp_path / "p"
    shutil.copytree(prepared_folder, folder)
    index = folder / "index.json"
    if change == "bytes":
        index.write_bytes(b"\x07\x13\xe1\x88D\x95\xe3")
    else:
        index.write_text(json.dumps(_edit(json.loads(index.read_text()), change)))
    proc = run_script("crossglg", "data", "info", folder)
    _refused(proc, str(index), named)
    if change == "no-samples":  # every command opens prepared data through the same check
        proc = run_script("crossglg", "data", "split", folder, "--protocol", "msr-action3d")
        _refused(proc, str(index), named)
