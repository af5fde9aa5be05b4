"""Helpers shared by the test files: the real console scripts in a subprocess, Markdown's fenced blocks.

Fixtures shared across areas live in tests/conftest.py; this module holds plain functions, imported
as ``from tests.helpers import ...``.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

BIN = Path(sys.executable).parent


def limit_file_size(limit: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes any file write past ``limit`` bytes fail as a full disk would
    (EFBIG), without root or a small file system: the child ignores SIGXFSZ, which would kill it."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run_script(
    program: str,
    *args: object,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    **kwargs: object,
) -> subprocess.CompletedProcess[str]:
    """Run an installed console script (``crossglg``, ``crossglg-text``) as a user does: its real exit path.

    ``env`` adds to (or overrides) the test environment, where OPENAI_API_KEY is empty by default;
    ``kwargs`` go to :func:`subprocess.run` (e.g. a ``preexec_fn`` setting resource limits).
    """
    script = BIN / program
    assert script.is_file(), f"{script} is not installed: pip install -e . puts it there"
    return subprocess.run(
        [str(script), *map(str, args)],
        cwd=cwd,
        env={**os.environ, "OPENAI_API_KEY": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


def fenced_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the ```LANG fenced blocks of a Markdown text, in order."""
    return re.findall(rf"```{re.escape(lang)}\n(.*?)```", text, flags=re.S)


def console_commands(text: str) -> list[str]:
    """Every ``$ command`` line of the text's ```console blocks, without the prompt."""
    return [line[2:].strip() for block in fenced_blocks(text, "console") for line in block.splitlines()
            if line.startswith("$ ")]  # fmt: skip


def stored_vectors(
    conn: sqlite3.Connection, embedder_id: str, text_ids: Sequence[int]
) -> dict[int, tuple[np.ndarray, int, bool]]:
    """What the cache file holds per text id for one embedder: (vector as float32, n_tokens, truncated).

    Read straight from the tables (docs/CACHE.md), not through crossglg, so a test compares the
    library's results with what is really on disk; absent ids are not embedded.
    """
    dim, dtype = conn.execute(
        "SELECT dim, dtype FROM embedders WHERE embedder_id = ?", (embedder_id,)
    ).fetchone()
    ids = [int(t) for t in text_ids]
    rows = conn.execute(
        f"SELECT text_id, vector, n_tokens, truncated FROM embeddings WHERE embedder_id = ?"
        f" AND text_id IN ({','.join('?' * len(ids))})",
        [embedder_id, *ids],
    )
    return {tid: (np.frombuffer(blob, f"<{dtype}", dim).astype(np.float32), n, bool(trunc))
            for tid, blob, n, trunc in rows}  # fmt: skip


def msr_rand1_protocol(folder: Path) -> Path:
    """bench/oneshot_eval.py's first random 10/10 MSR split (rand1) as a protocol file in ``folder``."""
    path = folder / "rand1.toml"
    path.write_text(
        'name = "msr-rand1"\ndataset = "msr-action3d"\nnum_classes = 20\n'
        "novel_classes = [2, 4, 5, 6, 8, 11, 13, 16, 17, 18]\n"
        'exemplar_pattern = "a{class_id:02d}_s01_e01"\nexclude_samples = ["a13_s09_e02"]\n'
    )
    return path


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only for the test's body, yielding where to reach it.

    Root ignores permission bits, so as root the folder is bind-mounted read-only beside itself
    (the test is skipped where mounting is not allowed); otherwise the folder and its files lose
    their write bits until the body ends.
    """
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in (folder, *folder.iterdir())}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    view = folder.with_name(folder.name + "-ro")
    view.mkdir()
    mount = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot bind-mount as root here: {mount.stderr!r}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True, capture_output=True)
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)
