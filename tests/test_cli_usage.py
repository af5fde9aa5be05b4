"""Usage errors through the installed console scripts, for every command the two apps have.

A newcomer's first mistakes — no arguments, a misspelt option, a word where a number goes, a
forgotten argument — must end in click's usage line and one ``Error:`` line with exit 2, never a
traceback, whatever typer release (and so whichever copy of click) is installed. The commands are
read from the apps themselves, so a new command is covered without touching this file.
"""

from __future__ import annotations

import enum
import inspect
import os
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import typer
import typer.main

from crossglg.cli import app as crossglg_app
from crossglg.cli_support import TRACEBACK_ENV
from crossglg.text_cli import app as text_app
from tests.helpers import run_script

APPS = {"crossglg": crossglg_app, "crossglg-text": text_app}


def _walk(command, path: tuple[str, ...]):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


def _all_commands() -> list[tuple[tuple[str, ...], object]]:
    found = []
    for script, app in APPS.items():
        found += list(_walk(typer.main.get_command(app), (script,)))
    return found


COMMANDS = _all_commands()
GROUPS = [path for path, cmd in COMMANDS if hasattr(cmd, "commands")]
LEAVES = {path: cmd for path, cmd in COMMANDS if not hasattr(cmd, "commands")}


def _ids(paths) -> list[str]:
    return [" ".join(p) for p in paths]


def _base_type(annotation):
    """``int`` for ``int``, ``Annotated[int | None, ...]``, ``list[int]`` and the like."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(inner[0]) if len(inner) == 1 else annotation
    return annotation


def _bad_value(command) -> tuple[list[str], str, bool]:
    """Arguments that give one option a value it cannot take, the words click says then, and
    whether click prints the usage line with them.

    A number or choice option gets a word; a command without one gets a value on an on/off
    flag, which click's parser rejects before it knows the command, so without the usage line.
    """
    signature = inspect.signature(command.callback, eval_str=True)
    options = [
        p for p in command.params if p.opts and p.opts[0].startswith("--") and p.name in signature.parameters
    ]
    for param in options:
        kind = _base_type(signature.parameters[param.name].annotation)
        if kind in (int, float) or (isinstance(kind, type) and issubclass(kind, enum.Enum)):
            return [param.opts[0], "not-a-value"], "Invalid value", True
    for param in options:
        if getattr(param, "is_flag", False) and not param.secondary_opts:
            return [f"{param.opts[0]}=yes"], "does not take a value", False
    raise AssertionError(f"{command.name} has no option that can get a bad value")


def _run(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_script(argv[0], *argv[1:], cwd=tmp_path, env={"COLUMNS": "100", **env})


def _assert_usage_error(
    proc: subprocess.CompletedProcess[str], path: tuple[str, ...], words: str, usage: bool = True
) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 2, out
    lines = proc.stderr.strip().splitlines()
    assert not usage or lines[0].startswith(f"Usage: {' '.join(path)} "), out
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and words in errors[0], out
    assert len(lines) <= 6, out  # usage, the --help hint, a blank line and one error line


def test_every_command_is_found():
    """The walk is not vacuous: it reaches the nested groups and the commands users type first."""
    names = set(_ids(LEAVES))
    assert {
        "crossglg train",
        "crossglg data prepare",
        "crossglg baseline dtw",
        "crossglg-text generate",
    } <= names
    assert {"crossglg", "crossglg data", "crossglg-text"} <= set(_ids(GROUPS))
    assert len(LEAVES) >= 15


@pytest.mark.parametrize("path", GROUPS, ids=_ids(GROUPS))
def test_no_arguments_prints_the_help(path, tmp_path):
    proc = _run(list(path), tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode in (0, 2), proc.stderr  # click < 8.2 exits 0 here, later releases 2
    assert "Usage:" in proc.stdout and "--help" in proc.stdout, proc.stdout
    assert "Commands" in proc.stdout, proc.stdout
    assert not proc.stderr.strip(), proc.stderr


@pytest.mark.parametrize("path", list(LEAVES), ids=_ids(LEAVES))
def test_an_unknown_option_is_a_usage_error(path, tmp_path):
    proc = _run([*path, "--bogus"], tmp_path)
    _assert_usage_error(proc, path, "--bogus")


def test_a_misspelt_option_gets_a_suggestion(tmp_path):
    proc = _run(["crossglg-text", "generate", "--protocl", "ntu120"], tmp_path)
    _assert_usage_error(proc, ("crossglg-text", "generate"), "--protocl")
    assert "--protocol" in proc.stderr


def test_a_misspelt_command_is_a_usage_error(tmp_path):
    proc = _run(["crossglg", "data", "prepair"], tmp_path)
    _assert_usage_error(proc, ("crossglg", "data"), "prepair")
    assert "prepare" in proc.stderr


@pytest.mark.parametrize("path", list(LEAVES), ids=_ids(LEAVES))
def test_a_bad_value_is_a_usage_error(path, tmp_path):
    args, words, usage = _bad_value(LEAVES[path])
    proc = _run([*path, *args], tmp_path)
    _assert_usage_error(proc, path, words, usage)


NEEDS_ARGS = [path for path, cmd in LEAVES.items() if any(p.required for p in cmd.params)]


@pytest.mark.parametrize("path", NEEDS_ARGS, ids=_ids(NEEDS_ARGS))
def test_a_missing_argument_is_a_usage_error(path, tmp_path):
    proc = _run(list(path), tmp_path)
    _assert_usage_error(proc, path, "Missing")


BUGGY_APP = """
import typer
from crossglg.cli_support import run_app

app = typer.Typer(pretty_exceptions_enable=False)  # as the project's apps

@app.command()
def crash(word: str) -> None:
    raise RuntimeError(word + "\\nsecond line")

run_app(app)
"""


def test_an_unexpected_error_is_one_line_with_the_way_to_its_trace(tmp_path):
    """A bug prints its type and message and the variable that shows the trace; the variable shows it."""
    argv = [sys.executable, "-c", BUGGY_APP, "oops"]
    env = {k: v for k, v in os.environ.items() if k != TRACEBACK_ENV}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "RuntimeError: oops second line" in proc.stderr and f"{TRACEBACK_ENV}=1" in proc.stderr
    proc = subprocess.run(
        argv, capture_output=True, text=True, env={**env, TRACEBACK_ENV: "1"}, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback (most recent call last)") and ", in crash" in proc.stderr


def _to(stdout: object, *args: str, cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run an installed script with standard output sent where a user sent it (a device, nowhere)."""
    script = Path(sys.executable).parent / args[0]
    return subprocess.run([str(script), *args[1:]], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          cwd=cwd, timeout=300, **kwargs)  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ("crossglg-text", "packs"),
        ("crossglg", "model-info", "-e", "stgcn", "--frames", "8", "--json"),
        ("crossglg",),
    ],
    ids=["text-packs", "model-info-json", "bare-help"],
)
def test_output_to_a_full_disk_is_one_line(tmp_path, args):
    """``> /dev/full``: the write fails with ENOSPC; once an internal error, or one at exit."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        proc = _to(full, *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "error: cannot write to standard output (No space left on device)\n"


def test_export_to_a_closed_stdout_is_one_line_and_to_a_file_runs(tmp_path):
    """``>&-``: Python starts with ``sys.stdout`` None; ``export -`` ended in an AttributeError. A
    command whose work is a file still does it; what it would print is dropped, as ``print`` does."""
    res = subprocess.run([str(Path(sys.executable).parent / "crossglg-text"), "import", "--pack", "msr-action3d",
                          "--cache", "c.db"], cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    proc = _to(
        None, "crossglg-text", "export", "-", "--cache", "c.db", cwd=tmp_path, preexec_fn=lambda: os.close(1)
    )
    assert proc.returncode == 2
    assert (
        proc.stderr == "error: -: standard output is closed; redirect it to a file, or name an output file\n"
    )
    out = tmp_path / "texts.jsonl"
    proc = _to(
        None, "crossglg-text", "export", out, "--cache", "c.db", cwd=tmp_path, preexec_fn=lambda: os.close(1)
    )
    assert proc.returncode == 0 and proc.stderr == f"wrote 140 texts to {out}\n", proc.stderr
    assert len(out.read_text().splitlines()) == 140  # the pack's texts, written whole


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """``| head``: the conventional quiet end (exit 1), never an internal error or a trace."""
    subprocess.run([str(Path(sys.executable).parent / "crossglg-text"), "import", "--pack", "ntu120", "--cache",
                    "c.db"], cwd=tmp_path, check=True, capture_output=True, timeout=300)  # fmt: skip
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write that reaches the pipe fails with EPIPE
    with os.fdopen(write, "w") as pipe:
        proc = _to(pipe, "crossglg-text", "export", "-", "--cache", "c.db", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
