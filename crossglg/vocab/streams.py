"""The input streams a skeleton model can be fed, and how many channels each takes.

Named here, below data and models, because both need them: the data pipeline turns joints into
a stream, and ``crossglg model-info`` sizes a model's first layer for one without importing the
pipeline (docs/TRAINING.md, "Input streams").
"""

from __future__ import annotations

from crossglg.errors import UserError

STREAMS = ("joint", "bone", "motion")


class StreamError(UserError):
    """A stream name that is not one of :data:`STREAMS` or a ``+``-join of them; ``problem`` is kept
    apart so that each caller can name the setting in its own terms (``input_stream``, ``--stream``)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"stream {problem}")
        self.problem = problem


def stream_parts(stream: str) -> tuple[str, ...]:
    """The streams a ``+``-joined input stream concatenates (``joint+bone+motion``: 9 channels).

    Raises StreamError for an unknown or repeated part, so every reader of the setting (the
    training config, an export's ``preprocess`` table, ``model-info``) names it the same way.
    """
    parts = tuple(stream.split("+"))
    if any(part not in STREAMS for part in parts) or len(set(parts)) != len(parts):
        raise StreamError(
            f"must be one of {', '.join(STREAMS)} or several joined by '+' (each once), got {stream!r}"
        )
    return parts


def stream_channels(stream: str) -> int:
    """Input channels of a model fed ``stream``: three (x, y, z) per part."""
    return 3 * len(stream_parts(stream))
