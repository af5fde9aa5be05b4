"""``crossglg demo``: the whole product, offline, on the synthetic actions, in minutes on a CPU.

The demo owns no algorithm. Each step is the real command a user would type, run in its own
process (text generation with the embedded LLM, embedding, synthesis, training, evaluation,
the DTW baseline), so what the demo shows working is exactly what ships. It only chooses
sizes small enough for a 2-core machine and gathers the results into one table and report.

A rerun with the same ``--out`` skips what is finished (cached text, embedded vectors, the
prepared data, trained runs), so an interrupted demo continues and nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from crossglg.cli_support import OUT_PARSING
from crossglg.errors import UserError
from crossglg.outputs import write_whole


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is: its data here, its training recipe in a shipped config file."""

    per_class: int  # synthetic samples per class
    config: str  # the shipped training recipe (crossglg/train/configs/): shrunk far below the paper's
    base: tuple[int, ...] = ()  # empty: the built-in `synthetic` protocol (30 base, 10 novel)
    novel: tuple[int, ...] = ()
    validation: tuple[int, ...] = ()

    def recipe(self) -> dict:
        """The figures of the recipe the report quotes (resolved from its config file)."""
        from crossglg.train.config import load_config

        cfg = load_config(self.config, {})
        return {
            "epochs": cfg.epochs,
            "width": cfg.model["encoder"]["base_channels"],
            "frames": cfg.frames,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
        }


FULL = DemoSize(per_class=10, config="demo")
# a CI-sized run: 5 base classes (10 LLM requests), 4 novel ones sharing their body parts
QUICK = DemoSize(per_class=5, config="demo-quick", base=(1, 4, 19, 24, 33), novel=(2, 6, 20, 34))


# the two trainings the table compares: the same recipe, without and with the LLM's text
RUNS = {
    "base": ("base encoder (--no-text)", ("--no-text",)),
    "crossglg": ("+CrossGLG (SmolLM2 text)", ("--text-cache", "cache.db")),
}


def train_args(size: DemoSize, protocol: str, run: str) -> list[str]:
    """The `crossglg train` arguments of one of the demo's trainings (run from the demo folder)."""
    recipe = ["--config", size.config, "--data", "data", "--protocol", protocol, "--device", "cpu"]
    return ["train", *recipe, *RUNS[run][1], "--out", f"runs/{run}"]


def protocol_toml(size: DemoSize) -> str:
    """A protocol file over a subset of the synthetic classes (same exemplar rule as built-in)."""
    return "\n".join(
        [
            'name = "synthetic-demo"',
            'dataset = "synthetic"',
            "num_classes = 40",
            f"base_classes = {list(size.base)}",
            f"novel_classes = {list(size.novel)}",
            'exemplar_pattern = "S101C001P001R001A{class_id:03d}"',
            f"validation_classes = {list(size.validation)}",
            "",
        ]
    )


@dataclass
class Running:
    """A started step: its process (None when skipped), for :meth:`Steps.finish`."""

    title: str
    shown: str
    proc: subprocess.Popen | None
    t0: float
    log: Path | None = None  # where a background step's stderr goes (its bars would garble ours)


class Steps:
    """Runs the real commands, timing each, stopping at the first failure.

    A step may run in the background while others run in the foreground; each then gets
    half the cores (``OMP_NUM_THREADS``, which llama.cpp and torch both honour), so the two
    do not fight over the same ones.
    """

    def __init__(self, out: Path, total: int) -> None:
        self.out = out
        self.total = total
        self.done = 0
        self.seconds: dict[str, float] = {}
        self.commands: list[str] = []
        self.background = 0

    def start(
        self, title: str, script: str, args: list[str], skip: bool = False, log: Path | None = None
    ) -> Running:
        """Start one command in a child process; stderr (bars, notes) passes through or goes to ``log``."""
        self.done += 1
        shown = ("crossglg-text" if script.endswith("text_cli") else "crossglg") + " " + " ".join(args)
        self.commands.append(shown)
        if skip:
            self._say(f"[{self.done}/{self.total}] {title}: already done in {self.out}, skipped")
            return Running(title, shown, None, time.perf_counter())
        self._say(f"[{self.done}/{self.total}] {title}\n    $ {shown}")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.background:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // 2))
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            self._say(f"    (its messages go to {log})")
        with open(log, "w") if log is not None else contextlib.nullcontext() as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", script, *args],
                cwd=self.out,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
            )
        return Running(title, shown, proc, time.perf_counter(), log)

    def finish(self, step: Running) -> str:
        """Wait for a started command; its stdout (JSON where asked) is returned."""
        if step.proc is None:
            return ""
        stdout, _ = step.proc.communicate()
        self.seconds[step.title] = round(time.perf_counter() - step.t0, 1)
        if step.proc.returncode != 0:
            where = f" (messages in {step.log})" if step.log else ""
            raise UserError(
                f"demo step '{step.title}' failed (exit {step.proc.returncode}){where}; "
                f"rerun it by hand in {self.out}: {step.shown}"
            )
        return stdout

    def run(self, title: str, script: str, args: list[str], skip: bool = False) -> str:
        return self.finish(self.start(title, script, args, skip))

    def in_background(self, title: str, script: str, args: list[str]) -> Running:
        self.background += 1
        log = self.out / "logs" / f"{script.rsplit('.', 2)[-2]}-{args[0]}.log"
        step = self.start(f"{title} (in the background)", script, args, log=log)
        step.title = title
        return step

    def join(self, step: Running) -> str:
        try:
            return self.finish(step)
        finally:
            self.background -= 1

    @staticmethod
    def _say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)


def run_demo(out: Path, quick: bool = False) -> dict:
    """Every step of the demo; returns the summary also written to ``OUT/summary.json``.

    The LLM writes while the skeletons are synthesised and the text-free base encoder trains
    (neither needs text), so the slowest step overlaps the others.
    """
    size = QUICK if quick else FULL
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if size.base:
        write_whole(out / "protocol.toml", protocol_toml(size), "protocol")
        protocol = "protocol.toml"
        select = [a for c in size.base for a in ("--class", str(c))]
        synth_classes = ["--classes", ",".join(map(str, sorted(size.base + size.novel)))]
    else:
        protocol = "synthetic"
        select = ["--protocol", "synthetic"]
        synth_classes = []
    steps = Steps(out, total=6)
    text = "crossglg.text_cli"
    writing = steps.in_background(
        "descriptions of the base classes by the embedded SmolLM2",
        text,
        # a 135M model often says nothing (docs/TEXTGEN.md, "Answer quality"); the demo shows the
        # pipeline, so it keeps such answers whole rather than stopping for want of text
        [
            "generate",
            "--dataset",
            "synthetic",
            *select,
            "--cache",
            "cache.db",
            "--accept-degenerate",
            "--json",
        ],
    )
    try:
        steps.run(
            "synthetic skeletons, prepared for training",
            "crossglg.cli",
            [
                "data",
                "synth",
                "--out",
                "data",
                "--per-class",
                str(size.per_class),
                "--seed",
                "0",
                *synth_classes,
            ],
            skip=(out / "data" / "index.json").is_file(),
        )
        train = {name: ("crossglg.cli", train_args(size, protocol, name)) for name in RUNS}
        done = {name: (out / "runs" / name / "summary.json").is_file() for name in RUNS}
        steps.run(f"train and evaluate: {RUNS['base'][0]}", *train["base"], skip=done["base"])
    finally:
        gen = steps.join(writing)
    emb = steps.run("MiniLM embeddings of the texts", text, ["embed", "--cache", "cache.db", "--json"])
    steps.run(f"train and evaluate: {RUNS['crossglg'][0]}", *train["crossglg"], skip=done["crossglg"])
    dtw = json.loads(
        steps.run(
            "DTW nearest-exemplar baseline",
            "crossglg.cli",
            ["baseline", "dtw", "--data", "data", "--protocol", protocol, "--json"],
        )
    )
    rows = [{"method": "DTW nearest exemplar (no training)", "cosine": dtw["accuracy"], "dc": None}]
    for name, (label, _) in RUNS.items():
        summary = json.loads((out / "runs" / name / "summary.json").read_text())
        rows.append(
            {"method": label, "cosine": summary["cosine"], "dc": summary["dc"], "run": f"runs/{name}"}
        )
    result = {
        "out": str(out),
        "quick": quick,
        "size": {**asdict(size), **size.recipe()},
        "protocol": protocol,
        "queries": dtw["queries"],
        "table": rows,
        "text": json.loads(gen) if gen else None,
        "embed": json.loads(emb) if emb else None,
        "seconds": {**steps.seconds, "total": round(time.perf_counter() - t_start, 1)},
        "commands": steps.commands,
    }
    write_whole(out / "summary.json", json.dumps(result, indent=1), "summary")
    write_whole(out / "report.md", report_markdown(result), "report")
    return result


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def report_markdown(result: dict) -> str:
    """The report links the trainer's own pictures; nothing is drawn twice."""
    size = result["size"]
    lines = [
        "# crossglg demo report",
        "",
        f"One-shot recognition of novel synthetic actions ({result['queries']} queries, protocol "
        f"`{result['protocol']}`), each novel class known from one exemplar. Text: the embedded "
        "SmolLM2-135M (a toy LLM: fluent, often wrong anatomy) embedded by MiniLM.",
        "",
        f"Sizes chosen for a 2-core CPU, far below the paper's recipe: InfoGCN with {size['width']} base "
        f"channels (paper 64), {size['frames']} frames (64), {size['epochs']} epochs (110), batch "
        f"{size['batch_size']}, {size['per_class']} samples per class. The numbers show the pipeline "
        "working, not the method's ceiling.",
        "",
        "| method | cosine | distribution calibration |",
        "|---|---|---|",
        *(f"| {r['method']} | {_pct(r['cosine'])} | {_pct(r['dc'])} |" for r in result["table"]),
        "",
        f"Total time: {result['seconds']['total']:.0f} s.",
        "",
        "## Training curves",
        "",
        "Base encoder: ![curves](runs/base/curves.png)",
        "",
        "+CrossGLG: ![curves](runs/crossglg/curves.png)",
        "",
        "## Confusion on the novel classes (+CrossGLG)",
        "",
        "![cosine](runs/crossglg/eval/confusion_cosine.png) ![dc](runs/crossglg/eval/confusion_dc.png)",
        "",
        "## Joint importance predicted by the JID on novel exemplars",
        "",
        "![joint importance](runs/crossglg/eval/joint_importance.png)",
        "",
        "## The commands that ran (in this folder)",
        "",
        "```bash",
        *result["commands"],
        "```",
        "",
    ]
    return "\n".join(lines)


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"one-shot accuracy on novel synthetic actions ({result['queries']} queries)")
    table.add_column("method")
    table.add_column("cosine", justify="right")
    table.add_column("DC", justify="right")
    for row in result["table"]:
        table.add_row(row["method"], _pct(row["cosine"]), _pct(row["dc"]))
    console = Console()
    console.print(table)
    console.print(f"report: {Path(result['out']) / 'report.md'}  ({result['seconds']['total']:.0f} s)")


def demo(
    out: Path = typer.Option(
        Path("demo-out"),
        "--out",
        "-o",
        **OUT_PARSING,
        help="Folder for the cache, data, runs and report.",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="CI size: 5 base and 4 novel classes, 2 epochs, a tiny encoder."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the summary (table, timings, commands) as JSON."
    ),
) -> None:
    """Run everything offline on synthetic actions: LLM text, embeddings, training, one-shot eval, report.

    A rerun with the same --out skips the finished steps.
    """
    from crossglg.outputs import writable_folder

    writable_folder(out, "demo")
    result = run_demo(out, quick=quick)
    if json_out:
        typer.echo(json.dumps(result, indent=1))
    else:
        print_table(result)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
