"""``crossglg data prepare / info / split``: round trip, report, atomic writes, CLI behaviour."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossglg.data.prepare import prepare
from crossglg.data.prepared import open_prepared
from crossglg.data.readers.ntu_skeleton import read_unit
from crossglg.errors import UserError
from tests.helpers import run_script

runner = CliRunner()


def test_ntu_folder_prepares_with_defects_reported(ntu_folder, tmp_path, data_cli):
    out = tmp_path / "ntu"
    res = runner.invoke(data_cli, ["data", "prepare", str(ntu_folder["root"]), "--format", "ntu-skeleton",
                                   "--out", str(out), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["samples"] == 3 and report["skipped"] == 3
    assert {
        p["where"].split("/")[-1].removesuffix(".skeleton"): p["kind"] for p in report["problems"]
    } == ntu_folder["bad"]
    assert report["problems_by_kind"] == {"joints": 1, "nan": 1, "official-missing": 1, "truncated": 1}
    md = (out / "report.md").read_text()
    assert "| truncated | 1 |" in md and "S001C001P001R001A004" in md
    assert (out / "frames_histogram.png").read_bytes()[:4] == b"\x89PNG"
    data = open_prepared(out)
    assert data.names == ["S001C001P001R001A001", "S001C003P008R001A007", "S002C002P002R002A050"]
    # round trip: the cache returns exactly what the reader produced
    for i, name in enumerate(data.names):
        direct = read_unit(str(ntu_folder["root"] / f"{name}.skeleton")).samples[0]
        np.testing.assert_array_equal(data.sequence(i), direct.data)
        assert data.labels[i] == direct.label and data.bodies[i] == direct.bodies
    assert list(data.bodies) == [1, 1, 2] and data.sequence(2).shape == (30, 2, 25, 3)


def test_info_json(ntu_folder, tmp_path, data_cli):
    out = tmp_path / "ntu"
    prepare(ntu_folder["root"], "ntu-skeleton", out, workers=1)
    res = runner.invoke(data_cli, ["data", "info", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert (info["samples"], info["dataset"], info["persons"], info["joints"]) == (3, "ntu60", 2, 25)
    assert info["two_person_samples"] == 1 and info["frames_total"] == 40 + 24 + 30
    assert info["skipped"] == 3 and info["problems_by_kind"]["truncated"] == 1


def test_existing_cache_is_kept_without_force(ntu_folder, tmp_path):
    out = tmp_path / "ntu"
    prepare(ntu_folder["root"], "ntu-skeleton", out, workers=1)
    with pytest.raises(UserError, match="--force"):
        prepare(ntu_folder["root"], "ntu-skeleton", out, workers=1)
    assert len(open_prepared(out)) == 3


def test_failed_prepare_leaves_old_cache_and_no_debris(ntu_folder, tmp_path):
    out = tmp_path / "ntu"
    prepare(ntu_folder["root"], "ntu-skeleton", out, workers=1)
    bad = tmp_path / "ntu60_3danno.pkl"
    bad.write_bytes(pickle.dumps(["not", "pyskl"]))  # fails after the new cache folder was started
    with pytest.raises(UserError, match="no 'annotations' list"):
        prepare(bad, "pyskl-pkl", out, workers=1, force=True)
    assert len(open_prepared(out)) == 3  # the old cache still loads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ntu", "ntu60_3danno.pkl", "nturgbd_skeletons"]


def test_duplicate_names_are_reported_once(ntu_folder, tmp_path):
    copy = ntu_folder["root"] / "again"
    copy.mkdir()
    (copy / "S001C001P001R001A001.skeleton").write_bytes(
        (ntu_folder["root"] / "S001C001P001R001A001.skeleton").read_bytes()
    )
    report = prepare(ntu_folder["root"], "ntu-skeleton", tmp_path / "out", workers=1)
    assert report["problems_by_kind"]["duplicate"] == 1 and report["samples"] == 3


def test_half_written_folder_never_loads(tmp_path):
    (tmp_path / "frames.f32").write_bytes(b"\0" * 64)
    with pytest.raises(UserError, match="not a prepared dataset"):
        open_prepared(tmp_path)


def test_split_command_on_msr(real_data, tmp_path, data_cli):
    """The commands of docs/DATA.md's MSR walk-through."""
    out = tmp_path / "prepared" / "msr"
    res = runner.invoke(data_cli, ["data", "prepare", str(real_data("msr_action3d")), "--format",
                                   "msr-action3d", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "prepared 566 samples" in res.output and "a13_s09_e02: all-zero" in res.output
    res = runner.invoke(data_cli, ["data", "split", str(out), "--protocol", "msr-action3d", "--json"])
    counts = json.loads(res.output)
    assert (counts["auxiliary"], counts["exemplars"], counts["queries"]) == (277, 10, 279)
    res = runner.invoke(data_cli, ["data", "info", str(out)])
    assert res.exit_code == 0 and "samples: 566" in res.output


def test_bad_format_is_one_line_error(tmp_path):
    """Through the real console entry point: no traceback, exit 2."""
    proc = run_script(
        "crossglg", "data", "prepare", tmp_path, "--format", "kinect-xyz", "--out", tmp_path / "o"
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown data format 'kinect-xyz'; known: ntu-skeleton, ctrgcn-npz, pyskl-pkl, pku-mmd, "
        "msr-action3d, utkinect, generic"
    ]
    assert not Path(tmp_path / "o").exists()


def test_generated_raw_folder_reports_its_planted_defects(tmp_path, data_cli):
    """data-B's generator writes NTU files with planted defects; each one is reported, the rest kept."""
    from crossglg.data.synthetic import write_raw

    manifest = write_raw(tmp_path / "raw", n_per_class=1, seed=3, defects=True)
    out = tmp_path / "prepared"
    res = runner.invoke(data_cli, ["data", "prepare", str(tmp_path / "raw"), "--format", "ntu-skeleton",
                                   "--out", str(out), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    kind_of = {"truncate": "truncated", "wrong_joint_count": "joints", "nan": "nan"}
    planted = {name: kind_of[k] for name, kinds in manifest.items() for k in kinds if k in kind_of}
    assert len(planted) == 3
    got = {Path(p["where"]).stem: p["kind"] for p in report["problems"]}
    assert got == planted
    data = open_prepared(out)
    files = sorted(p.stem for p in (tmp_path / "raw").glob("*.skeleton"))
    assert data.names == [n for n in files if n not in planted]
    assert data.dataset == "synthetic" and report["samples"] == len(files) - 3
    # quirks that real files have (0-body frames, a noise body, CRLF) are read, not skipped
    quirky = [n for n, kinds in manifest.items() if n not in planted]
    assert quirky and all(n in data.names for n in quirky)
    # and every single-person sample comes back as generated (0-body frames and noise tracks gone)
    from crossglg.data.synthetic.generator import generate_one

    checked = 0
    for i, name in enumerate(data.names):
        truth = generate_one(int(name[-3:]), 0, 3)
        if truth.shape[1] == 1:
            np.testing.assert_allclose(data.sequence(i)[:, 0], truth[:, 0], atol=1e-5, err_msg=name)
            assert data.bodies[i] == 1
            checked += 1
    assert checked >= 20


def test_dry_run_writes_nothing(ntu_folder, tmp_path, data_cli):
    out = tmp_path / "never"
    res = runner.invoke(data_cli, ["data", "prepare", str(ntu_folder["root"]), "--format", "ntu-skeleton",
                                   "--out", str(out), "--dry-run", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert (summary["units"], summary["dataset"], summary["expected_count"]) == (6, "ntu60", 56_578)
    assert [n["kind"] for n in summary["notes"]] == ["official-missing"]
    assert not out.exists()


# --- an option the chosen format does not read is refused, not silently dropped ----------------


def _msr_source(root: Path) -> Path:
    """Three valid MSR Action3D files (20 joints x 5 frames, 4 numbers a line)."""
    root.mkdir()
    rng = np.random.default_rng(1)
    for a in range(1, 4):
        np.savetxt(root / f"a{a:02d}_s01_e01_skeleton3D.txt", rng.normal(size=(5 * 20, 4)), fmt="%.4f")
    return root


def _names_file(tmp_path: Path) -> Path:
    (tmp_path / "names.txt").write_text("S001C001P001R001A001\n")
    return tmp_path / "names.txt"


@pytest.mark.parametrize("dry_run", [False, True], ids=["write", "dry-run"])
@pytest.mark.parametrize(
    ("flag", "value", "readers"),
    [
        ("--layout", "kinect20", "generic"),
        ("--dataset", "ntu60", "ntu-skeleton, pyskl-pkl"),
        ("--label-file", "modified", "utkinect"),  # the reader's default, but given: refused too
        ("--names", _names_file, "ctrgcn-npz"),
    ],
)
def test_an_option_the_format_does_not_read_is_refused(tmp_path, flag, value, readers, dry_run):
    """``--layout kinect20`` on MSR data once exited 0 as if it took effect; now one line, nothing written."""
    src = _msr_source(tmp_path / "msr")
    value = value(tmp_path) if callable(value) else value
    out = tmp_path / "out"
    args = ["--dry-run"] if dry_run else []
    proc = run_script(
        "crossglg", "data", "prepare", src, "--format", "msr-action3d", "--out", out, flag, value, *args
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {flag} is not used by --format msr-action3d (only by: {readers})"
    ]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()


def test_every_unused_option_is_named_in_one_line(tmp_path):
    src = _msr_source(tmp_path / "msr")
    proc = run_script("crossglg", "data", "prepare", src, "--format", "msr-action3d", "--out", tmp_path / "o",
                      "--layout", "ntu25", "--dataset", "ntu120")  # fmt: skip
    assert proc.returncode == 2 and not (tmp_path / "o").exists()
    assert proc.stderr.strip().splitlines() == [
        "error: --dataset is not used by --format msr-action3d (only by: ntu-skeleton, pyskl-pkl); "
        "--layout is not used by --format msr-action3d (only by: generic)"
    ]


def test_a_default_is_not_an_option_given(tmp_path):
    """--label-file's default (modified) is the UTKinect reader's own: MSR data without flags is not refused."""
    src = _msr_source(tmp_path / "msr")
    proc = run_script("crossglg", "data", "prepare", src, "--format", "msr-action3d", "--out", tmp_path / "o",
                      "--dry-run")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("would parse 3 files/units as msr-action3d")


def test_an_option_the_format_reads_is_accepted(tmp_path):
    """The same flags reach the formats that read them: --layout on generic data, --label-file on UTKinect."""
    x = np.random.default_rng(0).normal(size=(4, 6, 20, 3)).astype(np.float32)
    np.savez(tmp_path / "mine.npz", x=x, labels=np.arange(4) % 2, names=np.array([f"s{i}" for i in range(4)]),
             class_names=np.array(["a", "b"]))  # fmt: skip
    out = tmp_path / "generic"
    (tmp_path / "classes.txt").write_text("walk\nsit\n")
    proc = run_script("crossglg", "data", "prepare", tmp_path / "mine.npz", "--format", "generic",
                      "--out", out, "--layout", "kinect20", "--classes", tmp_path / "classes.txt")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = open_prepared(out)
    assert (data.layout, data.class_names, len(data)) == ("kinect20", ["walk", "sit"], 4)

    utk = tmp_path / "utk" / "joints"
    utk.mkdir(parents=True)
    rows = [[f, *np.random.default_rng(f).normal(size=60)] for f in range(10, 40)]
    np.savetxt(utk / "joints_s01_e01.txt", rows, fmt="%.4f")
    (utk / "actionLabel.txt").write_text("s01_e01\nwalk: 10 20\nsitDown: 21 30\n")  # only the original
    base = ["crossglg", "data", "prepare", tmp_path / "utk", "--format", "utkinect", "--out", tmp_path / "u"]
    proc = run_script(*base, "--label-file", "original", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["units"] == 1
    proc = run_script(*base, "--dry-run")  # the default (modified) is not "given": its own error, not ours
    assert proc.returncode == 2 and "actionLabel_modified.txt: label file not found" in proc.stderr
    assert "not used by" not in proc.stderr


def test_each_format_reads_the_options_its_scan_names():
    """What prepare refuses follows the readers' signatures; each option read has a flag for messages."""
    from crossglg.data.cli import OPTION_FLAGS
    from crossglg.data.readers import options_read

    expected = {
        "ntu-skeleton": ("dataset", "class_file"),
        "ctrgcn-npz": ("names_file", "class_file"),
        "pyskl-pkl": ("dataset", "class_file"),
        "pku-mmd": ("class_file",),
        "msr-action3d": ("class_file",),
        "utkinect": ("label_file", "class_file"),
        "generic": ("layout", "class_file"),
    }
    assert {fmt: options_read(fmt) for fmt in expected} == expected
    assert set().union(*expected.values()) == set(OPTION_FLAGS)
