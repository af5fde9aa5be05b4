"""Four processes writing one cache.db at once: zero "database is locked" (docs/CACHE.md, "What the cache guarantees")."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

from crossglg.cache import BatchWriter, open_cache

from .conftest import add_request, global_item, ok_global

WORKERS = 4
TRANSACTIONS = 150


def _worker(path: str, worker: int, barrier, results) -> None:
    errors = 0
    cache = None
    try:
        barrier.wait()  # all four race to create the file, too
        cache = open_cache(path)
        for i in range(TRANSACTIONS):
            name = f"w{worker} class {i}"
            try:
                # read-then-write in one transaction: the pattern that fails under deferred BEGIN
                with cache.write():
                    key = add_request(cache, name)
                    if key not in cache.lookup([key]):
                        with BatchWriter(cache, max_rows=10_000) as w:
                            w.add_generation(
                                ok_global(key, name), [global_item(f"set{worker}", i + 1, name, name)]
                            )
            except sqlite3.OperationalError as err:
                errors += 1
                results.put(("error", worker, str(err)))
    except Exception as err:  # report instead of dying silently in the child
        results.put(("error", worker, repr(err)))
        errors += 1
    finally:
        if cache is not None:
            cache.close()
        results.put(("done", worker, errors))


def test_four_writer_processes_never_see_database_is_locked(tmp_path: Path):
    path = tmp_path / "cache.db"
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(path), w, barrier, results)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    messages = []
    while sum(m[0] == "done" for m in messages) < WORKERS:
        messages.append(results.get(timeout=120))
    for p in procs:
        p.join(timeout=60)
    errors = [m for m in messages if m[0] == "error"]
    assert errors == []
    assert all(p.exitcode == 0 for p in procs)
    with open_cache(path, readonly=True) as c:
        assert c.conn.execute("SELECT count(*) FROM generations").fetchone()[0] == WORKERS * TRANSACTIONS
        assert c.conn.execute("SELECT count(*) FROM items").fetchone()[0] == WORKERS * TRANSACTIONS
        assert c.conn.execute("SELECT count(*) FROM meta WHERE key = 'format'").fetchone()[0] == 1
        assert c.conn.execute("PRAGMA page_size").fetchone()[0] == 16384
