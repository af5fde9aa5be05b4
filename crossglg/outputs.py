"""Checks on an output path (a file or a folder), made before any input is read or any work is done;
the one way a file is written (:func:`replaced_file`, whole or not at all) and the one way pictures
are drawn (:func:`png_figure`).

A command that learns for a minute and then cannot write its file has wasted the minute and
left the user guessing; so every named output is checked first (docs/ARCHITECTURE.md, "Errors").
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from crossglg.errors import UserError


def writable_file(path: Path, what: str) -> None:
    """Refuse an output whose folder is missing or read-only, or whose place a folder, device, pipe
    or socket holds (every file is written beside its place and renamed over it: :func:`replaced_file`)."""
    folder = path.parent
    if path.is_dir():
        raise UserError(f"{path}: a folder is in the way; name a new {what}")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist; create it or name another {what}")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: folder {folder} is read-only; name another {what}")
    regular_or_new(path, what)


@contextlib.contextmanager
def png_figure(path: Path, dpi: int, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """``plt.subplots(**subplots)`` for the block, written to ``path`` as PNG when the block ends.

    The figure is closed however the block ends: an error while drawing would otherwise leave it
    open in a long-lived process (a notebook, the test suite). A failed write is one line naming
    the file: ``fig.savefig(path)`` drops the error of a write that fails (on matplotlib 3.11 a
    PNG sent to ``/dev/full`` returns normally), so the image is rendered in memory and written
    here, where the error surfaces. Headless (Agg), so it works on servers without a display.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(**subplots)
    buffer = io.BytesIO()
    try:
        yield fig, axes
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    write_whole(Path(path), buffer.getvalue(), "picture")


@contextlib.contextmanager
def replaced_file(path: Path, what: str, text: bool = False) -> Iterator[IO[Any]]:
    """A handle on a new file beside ``path``, renamed over it only when the block ends normally.

    A reader, a crash or a full disk therefore sees the old file or the new one, never a part, and
    two processes writing one path leave one whole file (the last), not an interleaving: the
    temporary name is unique, where a fixed ``.name.tmp`` let two writers share and truncate one
    file (docs/ARCHITECTURE.md, "Errors"). The new file keeps the old one's permission bits, or
    takes the umask's, as a plain ``open`` would (``mkstemp`` alone makes it private). A failed
    write is one line naming the file, and the temporary is removed however the block ends. A
    device, pipe or socket at ``path`` is refused (:func:`regular_or_new`): the rename would
    replace the node itself. A link is written through, as ``open`` would: its target is replaced
    and the link kept.
    """
    regular_or_new(path, what)
    target = path.resolve() if path.is_symlink() else path
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise UserError(
            f"{path}: cannot write the {what} in {target.parent} ({err.strerror or err})"
        ) from None
    try:
        with os.fdopen(
            fd, "w" if text else "wb", **({"encoding": "utf-8", "newline": ""} if text else {})
        ) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.is_file() else 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(
            f"{path}: {what} not written ({err.strerror or err}); an existing file is unchanged"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_whole(path: Path, data: str | bytes, what: str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`replaced_file`."""
    with replaced_file(path, what, text=isinstance(data, str)) as fh:
        fh.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def not_an_input(out: Path, inputs: Iterable[Path | None], what: str) -> None:
    """Refuse an output that is one of the command's input files, however it is spelt (a link, ``..``).

    Every file is renamed over its place (:func:`replaced_file`), so an output named like an input
    replaces it: ``baseline dtw --save-weights prepared/msr/index.json`` wrote the weights over the
    cache's index and reported the accuracy. Checked before anything is read or computed.
    """
    for path in inputs:
        if path is None:
            continue
        same = out.resolve() == path.resolve()
        if not same and out.exists() and path.exists():
            same = os.path.samefile(out, path)
        if same:
            raise UserError(f"{out}: that is an input ({path}); name another {what}")


def writable_folder(path: Path, what: str) -> None:
    """Refuse an output folder that cannot be made or written: a file in its place or above it, or
    a read-only folder where it would go. Checked, not created: a command whose input then fails
    leaves nothing behind."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: a file is in the way; name a folder for the {what}")
    above = path
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise UserError(f"{path}: {above} is a file, not a folder; name another folder for the {what}")
    if not os.access(above, os.W_OK):
        raise UserError(f"{path}: {above} is read-only; name another folder for the {what}")


SQLITE_MAGIC = b"SQLite format 3\x00"


def spares_cache(out: Path, cache: Path, what: str) -> None:
    """Refuse an output that is the cache, one of its side files, or any other SQLite database.

    Files are written beside their place and renamed over it (:func:`replaced_file`), so an
    output named like the cache by mistake would replace every stored answer with the output
    (``generate --batch-file cache.db`` once did, and reported success). Checked before the
    cache is opened.
    """
    target, base = out.resolve(), cache.resolve()
    side_files = {base.with_name(base.name + s) for s in ("", "-wal", "-shm", "-journal")}
    if target in side_files or (out.exists() and cache.exists() and os.path.samefile(out, cache)):
        raise UserError(f"{out}: that is the cache (--cache {cache}); name another {what}")
    if out.is_file():
        try:
            with out.open("rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as err:
            raise UserError(f"{out}: cannot read the existing file ({err.strerror})") from None
        if head == SQLITE_MAGIC:
            raise UserError(f"{out}: is a SQLite database, which writing would replace; name another {what}")


def regular_or_new(path: Path, what: str) -> None:
    """Refuse a device, pipe or socket where an output written beside it and renamed over it goes.

    The rename would put a regular file in its place: as root, ``export /dev/full`` replaced the
    device node itself and reported success.
    """
    if path.exists() and not path.is_dir() and not path.is_file():
        raise UserError(f"{path}: not a regular file (a device, pipe or socket); name a new {what}")
