"""The one error the cache raises for files a user can fix or should not have pointed us at."""

from __future__ import annotations

from crossglg.errors import UserError


class CacheError(UserError):
    """A cache file that cannot be used as is: not a crossglg cache, a newer schema, missing.

    Raised before anything is written, so the file on disk stays byte-for-byte as it was.
    """
