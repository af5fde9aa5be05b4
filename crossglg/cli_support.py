"""Glue shared by the two console scripts: offline defaults and short, traceback-free errors.

What a user sees when a command fails (docs/ARCHITECTURE.md, "Errors"):

- a wrong option, a bad value, a missing argument: click's usage line, a "Try ... --help" line
  and one ``Error:`` line, exit 2; no arguments at all prints the help;
- a :class:`~crossglg.errors.UserError` (a bad file, row or field): one ``error:`` line, exit 2;
- anything else is a bug: one line with the exception's type and message and the variable
  that shows the full trace (``CROSSGLG_TRACEBACK=1``), exit 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import typer

from crossglg.errors import UserError

#: Set to 1 to let an unexpected exception end in its full Python traceback.
TRACEBACK_ENV = "CROSSGLG_TRACEBACK"


def offline_defaults() -> None:
    """Never let a library reach for a hub unless the user asked for it.

    Without these, an accidental hub id hangs about 75 s in network retries before failing.
    A user who wants downloads sets the variables to 0 themselves (docs/TEXTGEN.md, "vLLM
    in-process (GPU)").
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def click_exceptions() -> ModuleType:
    """The ``exceptions`` module of the click that typer parses with.

    Typer up to 0.2x parses with the ``click`` package; later releases vendor a copy
    (``typer._click``) and raise its classes, which ``click.exceptions.ClickException`` does
    not match. ``typer.BadParameter`` is re-exported from whichever copy typer uses, so its
    module holds the classes that typer really raises.
    """
    return sys.modules[typer.BadParameter.__module__]


def one_line(err: BaseException) -> str:
    """``Type: message`` on a single line, so a bug report starts with what matters."""
    message = " ".join(str(err).split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


# C0/C1 controls (ESC starts terminal escape sequences) and bidirectional overrides
_UNPRINTABLE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}
_UNPRINTABLE.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def printable(text: Any) -> str:
    """``text`` safe for a terminal: control characters shown as ``\\x1b``, never executed.

    Answers, imported texts and file names come from outside; an ESC sequence in one could
    rewrite the screen or the window title when `show` or `predict` prints it.
    """
    return str(text).translate(_UNPRINTABLE)


def output_path(value: str) -> Path:
    """Typer ``parser`` of an output path option: the path, or a usage error for an empty one.

    ``Path("")`` is the current folder, so ``--out ""`` (an unset shell variable, say) would write a
    run, an export or an evaluation into wherever the command was started; ``--out .`` says so
    on purpose.
    """
    if not value:
        raise typer.BadParameter("empty; name a folder (. for the current one)")
    return Path(value)


#: How every ``--out`` is parsed (:func:`output_path`) and shown (``<path>``, as typer shows a plain Path).
OUT_PARSING: dict[str, Any] = {"parser": output_path, "metavar": "<path>"}


def out_option(help: str) -> Any:
    """A ``--out/-o`` folder option without a default, parsed by :func:`output_path`."""
    return typer.Option(None, "--out", "-o", **OUT_PARSING, help=help)


#: Device kinds the commands run on; torch parses some twenty more (xla, meta, ...) that no command supports.
DEVICE_KINDS = ("cpu", "cuda", "mps")


def checked_device(value: str, option: str) -> str:
    """``value`` as torch spells it, or a one-line UserError naming ``option`` and this machine's devices.

    Without this check a typo failed deep in torch once the first tensor moved, and ``cuda`` on a
    machine without one as an AssertionError ("Torch not compiled with CUDA enabled"), both after
    the data had been read.
    """
    import torch

    have = available_devices()
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_KINDS:
        raise UserError(f"{option} {value!r}: not a device; this machine has {have}")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"{option} {value!r}: no CUDA device here; this machine has {have}")
        if device.index is not None and device.index >= count:
            raise UserError(f"{option} {value!r}: no such CUDA device; this machine has {have}")
    elif device.type == "mps" and not (torch.backends.mps.is_available() and device.index in (None, 0)):
        raise UserError(f"{option} {value!r}: no such MPS device; this machine has {have}")
    elif device.type == "cpu" and device.index not in (None, 0):
        raise UserError(f"{option} {value!r}: not a device; this machine has {have}")
    return str(device)


def available_devices() -> str:
    """The devices :func:`checked_device` accepts here, for its messages: ``cpu, cuda:0, cuda:1``."""
    import torch

    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return ", ".join(names) if len(names) > 1 else "cpu only"


class StdoutError(UserError):
    """Standard output cannot take what a command prints: a full disk, a closed stream."""


class GuardedStdout:
    """``sys.stdout`` while a command runs: a write or flush that fails is a :class:`StdoutError`.

    ``crossglg-text export - > /dev/full`` ended in ``internal error: OSError: [Errno 28]``. The
    cause is where the user sent the output, so it is one line like any other user error
    (docs/ARCHITECTURE.md, "Errors"). A reader that goes away (``| head``) is not an error: that
    stays BrokenPipeError. A closed standard output (``>&-``) is Python's None, left as it is:
    ``print`` then drops what a command says about work it has done.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def _checked(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise StdoutError(f"cannot write to standard output ({err.strerror or err})") from None

    def write(self, text: str) -> int:
        return self._checked("write", text)

    def flush(self) -> None:
        self._checked("flush")

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, buffer, fileno: the stream's own
        return getattr(self._stream, name)


def _discard_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that what is still buffered for a stream that failed
    (a full disk, a reader gone) is not written, and reported, again when Python exits."""
    sys.stdout = sys.__stdout__
    if sys.__stdout__ is None:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)


def run_app(app: typer.Typer) -> None:
    """Run a Typer app and turn every way it can fail into a short message and an exit code.

    Typer runs in non-standalone mode so that this function, not typer, decides what a failure
    prints: typer's own handler draws usage errors as a rich panel and, in some releases, prints
    nothing at all for a bare command.
    """
    offline_defaults()
    clicks = click_exceptions()
    # typer 0.12-0.2x raises click's Abort and Exit; later releases raise typer's own
    aborts = tuple({typer.Abort, getattr(clicks, "Abort", typer.Abort)})
    exits = tuple({typer.Exit, getattr(clicks, "Exit", typer.Exit)})
    if sys.stdout is not None:
        sys.stdout = GuardedStdout(sys.stdout)  # type: ignore[assignment]
    try:
        code = app(standalone_mode=False)
        if sys.stdout is not None:
            sys.stdout.flush()  # what is still buffered fails here, in one line, not at exit
    except UserError as err:
        if isinstance(err, StdoutError):
            _discard_stdout()
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except BrokenPipeError:  # the reader went away (`| head`): nothing to say
        _discard_stdout()
        sys.exit(1)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except clicks.ClickException as err:  # usage errors, and the help for a bare command
        err.show()
        sys.exit(err.exit_code)
    except aborts:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except exits as err:
        sys.exit(err.exit_code)
    except Exception as err:
        if os.environ.get(TRACEBACK_ENV, "0") not in ("", "0"):
            raise
        print(
            f"internal error: {one_line(err)} (a bug: rerun with {TRACEBACK_ENV}=1 for the full trace)",
            file=sys.stderr,
        )
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
