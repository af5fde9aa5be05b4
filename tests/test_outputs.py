"""An output path is refused, in one line naming it, before any work is done, and every file is
written whole or not at all (crossglg/outputs.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from crossglg.errors import UserError
from crossglg.outputs import replaced_file, writable_file, write_whole
from tests.helpers import limit_file_size, read_only


def test_a_new_file_in_a_writable_folder_passes(tmp_path) -> None:
    writable_file(tmp_path / "new.png", "PNG file")
    assert not (tmp_path / "new.png").exists()  # checking creates nothing


def test_a_folder_in_the_files_place_is_refused(tmp_path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(UserError, match=r"out\.png: a folder is in the way; name a new PNG file"):
        writable_file(tmp_path / "out.png", "PNG file")


def test_a_missing_folder_is_refused(tmp_path) -> None:
    with pytest.raises(UserError, match=r"x\.npz: folder .*missing does not exist"):
        writable_file(tmp_path / "missing" / "x.npz", ".npz file")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_read_only_folder_is_refused(tmp_path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder) as view, pytest.raises(UserError, match="is read-only; name another"):
        writable_file(view / "x.png", "PNG file")


def test_a_picture_is_written_and_its_figure_closed(tmp_path) -> None:
    import matplotlib.pyplot as plt

    from crossglg.outputs import png_figure

    with png_figure(tmp_path / "ok.png", dpi=50) as (fig, ax):
        ax.plot([0, 1], [1, 0])
    assert (tmp_path / "ok.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.number not in plt.get_fignums()  # closed after writing (other tests' figures may be open)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_device_is_refused_not_replaced(tmp_path) -> None:
    """As root the rename would replace the device node itself (it once replaced /dev/full)."""
    import matplotlib.pyplot as plt

    from crossglg.outputs import png_figure

    before = os.stat("/dev/full")
    refused = pytest.raises(UserError, match=r"^/dev/full: not a regular file \(a device, pipe or socket\)")
    with refused, png_figure(Path("/dev/full"), dpi=50) as (fig, ax):
        ax.plot([0, 1], [1, 0])
    assert fig.number not in plt.get_fignums()
    after = os.stat("/dev/full")
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    with pytest.raises(UserError, match=r"^/dev/full: not a regular file"):
        writable_file(Path("/dev/full"), "export")


# a child process whose file writes fail past 0 bytes, as on a full disk (RLIMIT_FSIZE)
_FULL_DISK = """
import sys
from pathlib import Path
from crossglg.errors import UserError
from crossglg.outputs import png_figure, write_whole
path, kind = Path(sys.argv[1]), sys.argv[2]
try:
    if kind == "picture":
        with png_figure(path, dpi=50) as (fig, ax):
            ax.plot([0, 1], [1, 0])
    else:
        write_whole(path, "new text that does not fit", "summary")
except UserError as err:
    print(err)
"""


@pytest.mark.parametrize("kind", ["picture", "text"])
def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, kind: str) -> None:
    """matplotlib's savefig(path) returns normally on a full device; png_figure does not."""
    path = tmp_path / "out.bin"
    path.write_bytes(b"the old file")
    res = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(path), kind],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size(0),
        timeout=120,
    )
    what = "picture" if kind == "picture" else "summary"
    assert res.stdout == f"{path}: {what} not written (File too large); an existing file is unchanged\n", (
        res.stderr
    )
    assert path.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no temporary left


def test_a_replaced_file_keeps_the_old_permissions_or_takes_the_umask(tmp_path) -> None:
    """mkstemp alone makes a private (0600) file: a shared export would be unreadable to the group."""
    old = tmp_path / "old.json"
    old.write_text("{}")
    old.chmod(0o640)
    write_whole(old, "[1]", "results")
    assert old.read_text() == "[1]" and stat.S_IMODE(old.stat().st_mode) == 0o640
    mask = os.umask(0o022)
    try:
        write_whole(tmp_path / "new.json", "[2]", "results")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_a_link_is_written_through(tmp_path) -> None:
    """The link stays and its target gets the new content, as a plain ``open`` would do."""
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "texts.jsonl"
    target.write_text("old")
    link = tmp_path / "texts.jsonl"
    link.symlink_to(target)
    write_whole(link, "new", "export")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["texts.jsonl"]


def test_an_error_in_the_block_keeps_the_old_file(tmp_path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("old")
    with pytest.raises(ValueError, match="half way"), replaced_file(path, "metrics", text=True) as fh:
        fh.write("new, partial")
        raise ValueError("half way")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_a_stale_temporary_name_does_not_block_a_write(tmp_path) -> None:
    """A fixed ``.name.tmp`` (the old checkpoint writer) failed on whatever a crashed or concurrent
    writer had left there; a unique name does not."""
    (tmp_path / ".last.pt.tmp").mkdir()
    write_whole(tmp_path / "last.pt", b"weights", "checkpoint")
    assert (tmp_path / "last.pt").read_bytes() == b"weights"


_WRITER = """
import sys
from pathlib import Path
from crossglg.outputs import write_whole
path, mark = Path(sys.argv[1]), sys.argv[2]
for _ in range(200):
    write_whole(path, mark * 200_000, "results")
"""


def test_two_processes_writing_one_file_leave_one_whole_file(tmp_path) -> None:
    """With one shared temporary name, two writers truncated each other's file and one rename
    failed; now each write is whole and the last rename wins."""
    path = tmp_path / "results.json"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), mark], stderr=subprocess.PIPE, text=True)
        for mark in "ab"
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    text = path.read_text()
    assert text in ("a" * 200_000, "b" * 200_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_figure_that_fails_while_drawing_is_closed(tmp_path) -> None:
    """An error inside the block leaves no open figure behind and no file."""
    import matplotlib.pyplot as plt

    from crossglg.outputs import png_figure

    with (
        pytest.raises(ValueError, match="drawing failed"),
        png_figure(tmp_path / "never.png", dpi=50) as (fig, _),
    ):
        raise ValueError("drawing failed")
    assert fig.number not in plt.get_fignums() and not (tmp_path / "never.png").exists()
