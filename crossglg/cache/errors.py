"""The one error the cache raises for files a user can fix or should not have pointed us at."""

from __future__ import annotations

from crossglg.errors import UserError


class CacheError(UserError):
    """A cache file that cannot be used as is: not a crossglg cache, a newer schema, missing.

    Raised before anything is written, so the file on disk stays byte-for-byte as it was.
    """


class CacheWriteError(CacheError):
    """A write the file system refused: disk full, an I/O error, a read-only file or folder.

    The transaction was rolled back, so the file holds every earlier commit and nothing of
    this one. ``may_recover`` is true when freeing space could let the same write succeed.
    """

    def __init__(self, message: str, may_recover: bool = False) -> None:
        super().__init__(message)
        self.may_recover = may_recover


class CacheDamaged(CacheError):
    """SQLite found a damaged page: the file needs ``sqlite3 cache.db .recover``, not a retry."""
