"""Errors a user can fix by changing their input.

Every command catches :class:`UserError` at the top level and prints its message as one
line, so a bad file or flag never ends in a traceback. Programming errors still raise.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input: a file, a row, a field or a flag.

    The message must name what is wrong and where (file, row, field), in one line.
    """

    exit_code = 2
