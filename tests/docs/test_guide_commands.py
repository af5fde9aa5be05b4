"""Every command shown in docs/GUIDE.md is exercised.

Each ``$ ...`` line of the guide's console blocks is, by kind:

- run as written in a scratch folder (cheap: dry runs, prompts, the cache commands);
- run by the demo test (``crossglg demo``, ``make demo``) or the bench test (``python -m bench``);
- otherwise (it needs a GPU, an API key or a dataset you download) parsed by the real Click
  command without being invoked, so every subcommand, flag and value type must be accepted.

A guide line that fits none of these fails the test, so the guide cannot show a command that
nothing checks.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from tests.helpers import console_commands, fenced_blocks

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "GUIDE.md"

# run as written, in this order, in one scratch folder (later lines read what earlier ones wrote)
RUN = [
    "crossglg-text generate --llm gpt-4 --protocol ntu120 --dry-run",
    "crossglg-text prompts --dataset ntu120 --class 1",
    "crossglg-text generate --dataset ntu120 --parts joints --llm gpt-4o --dry-run",
    "crossglg-text generate --classes my_actions.txt --parts my_parts.txt --layout ntu25 --llm gpt-4o --dry-run",
    "crossglg-text import examples/msr_action3d_handwritten.jsonl --label handwritten",
    "crossglg-text stats",
    "crossglg-text show --dataset msr-action3d --class 1",
    "crossglg-text export texts.jsonl",
    "crossglg-text export texts.csv --format csv --dataset msr-action3d",
    "crossglg-text invalidate --prompt local --dry-run",
    "crossglg-text generate --llm gpt-4 --protocol ntu120-aux40 --dry-run",
    OWN_PROMPTS := "crossglg-text prompts --dataset msr-action3d --class 2 --templates examples/prompts "
    "--examples examples/prompts/examples.jsonl --dataset-description-file examples/prompts/dataset.txt",
    OWN_DRY_RUN := "crossglg-text generate --llm gpt-4o --protocol msr-action3d --templates examples/prompts "
    "--examples examples/prompts/examples.jsonl --dataset-description-file examples/prompts/dataset.txt --dry-run",
    "crossglg model-info --encoder all --layout ntu25",
]
# run end to end by tests/demo/test_demo.py (the --quick size) and tests/demo/test_bench_main.py
ELSEWHERE = {"make demo", "crossglg demo --out demo-out", "crossglg demo --quick --out demo-quick",
             "python -m bench --quick", "python -m bench --only data --only train --json"}  # fmt: skip


def guide_commands() -> list[str]:
    return console_commands(GUIDE.read_text())


def click_root(program: str):
    if program == "crossglg":
        from crossglg.cli import app
    else:
        from crossglg.text_cli import app
    return typer.main.get_command(app)


def parse_only(argv: list[str]):
    """Resolve subcommands and parse every option and argument, as the CLI would, without running.

    Typer ships its own copy of Click, so commands are recognised by what they do, not by class.
    """
    cmd = click_root(argv[0])
    args = argv[1:]
    ctx = None
    while hasattr(cmd, "resolve_command"):
        ctx = cmd.context_class(cmd, info_name=cmd.name, parent=ctx)
        _, cmd, args = cmd.resolve_command(ctx, args)
    cmd.make_context(cmd.name, list(args), parent=ctx)
    return cmd


def crossglg_argv(line: str) -> list[str]:
    """The crossglg argv of a guide line; torchrun's launcher flags are checked separately."""
    argv = shlex.split(line)
    if argv[0] == "torchrun":
        m = argv.index("-m")
        assert argv[m + 1] == "crossglg.cli", line
        return ["crossglg", *argv[m + 2 :]]
    return argv


def test_guide_shows_commands_and_each_has_a_check():
    commands = guide_commands()
    assert len(commands) >= 30
    for line in RUN + sorted(ELSEWHERE):
        assert line in commands, f"checked here but no longer in GUIDE.md: {line}"
    for line in commands:
        program = shlex.split(line)[0]
        assert line in RUN or line in ELSEWHERE or program in ("crossglg", "crossglg-text", "torchrun"), line


@pytest.mark.parametrize("line", [c for c in guide_commands() if c not in ELSEWHERE])
def test_guide_command_parses(line):
    """Wrong flag names, bad values or unknown subcommands fail here, with no GPU or key needed."""
    parse_only(crossglg_argv(line))


def test_guide_torchrun_launcher_flags():
    lines = [c for c in guide_commands() if c.startswith("torchrun ")]
    assert lines
    help_text = subprocess.run(
        [str(Path(sys.executable).parent / "torchrun"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for line in lines:
        argv = shlex.split(line)
        for flag in argv[1 : argv.index("-m")]:
            if flag.startswith("--"):
                assert flag in help_text, flag


def test_guide_elsewhere_commands_are_what_the_other_tests_run():
    make = (REPO / "Makefile").read_text()
    assert re.search(r"^demo: setup\n\t\$\(PY\) -m crossglg\.cli demo --out demo-out$", make, flags=re.M)
    parse_only(["crossglg", "demo", "--out", "demo-out"])
    parse_only(["crossglg", "demo", "--quick", "--out", "demo-quick"])
    demo_test = (REPO / "tests" / "demo" / "test_demo.py").read_text()
    assert '"demo", "--quick"' in demo_test
    help_text = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    for line in ELSEWHERE:
        if line.startswith("python -m bench"):
            for flag in shlex.split(line)[3:]:
                assert not flag.startswith("--") or flag in help_text, flag


def test_parse_only_rejects_what_the_cli_rejects():
    """The check is not vacuous: a misspelt flag or subcommand fails it."""
    for argv, kind in (
        (["crossglg-text", "generate", "--protocl", "ntu120"], "NoSuchOption"),
        (["crossglg", "data", "prepair", "x"], "UsageError"),
        (["crossglg", "eval", "runs/x", "--shots", "five"], "BadParameter"),
    ):
        with pytest.raises(Exception) as err:
            parse_only(argv)
        # typer before 0.2x raises click's subclasses (NoSuchCommand for a UsageError)
        names = {cls.__name__ for cls in type(err.value).__mro__}
        assert kind in names and err.value.exit_code == 2, argv


@pytest.mark.slow
def test_cheap_guide_commands_run_as_written(tmp_path):
    (tmp_path / "examples").symlink_to(REPO / "examples")
    (tmp_path / "my_actions.txt").write_text("juggle three balls\ntie a shoelace\n")
    (tmp_path / "my_parts.txt").write_text("left hand\nright hand\nleft foot\nright foot\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": ""}
    outputs = {}
    for line in RUN:
        argv = shlex.split(line)
        module = "crossglg.cli" if argv[0] == "crossglg" else "crossglg.text_cli"
        proc = subprocess.run(
            [sys.executable, "-m", module, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-2000:]}"
        outputs[line] = proc.stdout
    planned = {line: re.search(r"(\d+) requests planned", out) for line, out in outputs.items()}
    assert planned[RUN[0]][1] == "200"  # the 100 base classes × 2 prompts
    assert planned[RUN[2]][1] == "240"  # a whole class list: 120 × 2
    assert planned[RUN[3]][1] == "4"  # 2 own classes × 2
    assert (
        planned["crossglg-text generate --llm gpt-4 --protocol ntu120-aux40 --dry-run"][1] == "80"
    )  # 40 × 2
    assert "drink water" in outputs[RUN[1]]  # NTU class 1
    assert len((tmp_path / "texts.jsonl").read_text().splitlines()) == 70  # the hand-written MSR file
    assert len((tmp_path / "texts.csv").read_text().splitlines()) == 71  # a header and 70 rows
    assert "high arm wave" in outputs[RUN[6]]
    assert "no answers match prompt=local" in outputs["crossglg-text invalidate --prompt local --dry-run"]
    assert "infogcn" in outputs[RUN[-1]] and "ctrgcn" in outputs[RUN[-1]]
    # own prompts: the templates in use, the description and another class's example answer
    assert "template examples/prompts/local.txt" in outputs[OWN_PROMPTS]
    assert (
        "MSR Action3D: one subject" in outputs[OWN_PROMPTS]
        and 'Action "high arm wave":' in outputs[OWN_PROMPTS]
    )
    assert planned[OWN_DRY_RUN][1] == "20"  # the protocol's 10 base classes × 2


def other_doc_commands(name: str) -> list[str]:
    """`crossglg …` and `bench` command lines of RESULTS.md / BENCHMARKS.md (blocks and inline)."""
    text = (REPO / "docs" / name).read_text()
    lines = [line.split("  #")[0].strip() for b in fenced_blocks(text, "bash") for line in b.splitlines()]
    # inline: the full commands (prose also names commands without their arguments)
    lines += re.findall(r"`((?:crossglg baseline|OMP_NUM_THREADS=1 \.venv/bin/python) [^`]*--[^`]+)`", text)
    return [line for line in lines if line.startswith(("crossglg ", "OMP_NUM_THREADS=1", ".venv/bin/python"))]


@pytest.mark.parametrize("name", ["RESULTS.md", "BENCHMARKS.md"])
def test_results_and_benchmark_commands_parse(name):
    """Those pages' commands take hours (RESULTS) or are run by test_bench_main (BENCHMARKS)."""
    lines = other_doc_commands(name)
    assert len(lines) >= 3
    helps: dict[str, str] = {}
    for line in lines:
        argv = shlex.split(line.removeprefix("OMP_NUM_THREADS=1 "))
        if argv[0] == "crossglg":
            parse_only(argv)
            continue
        assert argv[0] == ".venv/bin/python", line
        script = argv[1:3] if argv[1] == "-m" else argv[1:2]
        key = " ".join(script)
        if key not in helps:
            helps[key] = subprocess.run(
                [sys.executable, *script, "--help"], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout
        for flag in argv[1 + len(script) :]:
            assert not flag.startswith("--") or flag in helps[key], (line, flag)
