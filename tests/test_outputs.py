"""An output path is refused, in one line naming it, before any work is done (crossglg/outputs.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossglg.errors import UserError
from crossglg.outputs import writable_file


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


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(UserError, match="is read-only; name another"):
            writable_file(folder / "x.png", "PNG file")
    finally:
        folder.chmod(0o755)


def test_a_picture_that_cannot_be_written_is_one_line(tmp_path) -> None:
    """matplotlib's savefig(path) returns normally on a full device; png_figure does not."""
    import matplotlib.pyplot as plt

    from crossglg.outputs import png_figure

    with png_figure(tmp_path / "ok.png", dpi=50) as (fig, ax):
        ax.plot([0, 1], [1, 0])
    assert (tmp_path / "ok.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.number not in plt.get_fignums()  # closed after writing (other tests' figures may be open)
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    full = pytest.raises(
        UserError, match=r"^/dev/full: cannot write the picture \(No space left on device\)$"
    )
    with full, png_figure(Path("/dev/full"), dpi=50) as (fig, ax):
        ax.plot([0, 1], [1, 0])
    assert fig.number not in plt.get_fignums()


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
