"""``crossglg data``: prepare a skeleton source once, inspect a prepared cache, check a protocol."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from crossglg.cli_support import OUT_PARSING
from crossglg.data.readers import READERS, options_read
from crossglg.errors import UserError

data_app = typer.Typer(
    help="Convert skeleton data to the fast prepared cache and inspect it.", no_args_is_help=True
)

FORMAT_HELP = f"Source format: {', '.join(READERS.names())}."
DATASETS = ("ntu60", "ntu120", "synthetic")  # what --dataset may name (docs/DATA.md, "Commands")
# the flag of each reader option (the parameters of the readers' scan: readers.options_read), for messages
OPTION_FLAGS = {
    "class_file": "--classes",
    "names_file": "--names",
    "dataset": "--dataset",
    "layout": "--layout",
    "label_file": "--label-file",
}


def register(app: typer.Typer) -> None:
    from crossglg.data.synthetic.cli import register as register_synth  # data-B: `data synth`

    register_synth(data_app)
    app.add_typer(data_app, name="data")


@data_app.command()
def prepare(
    source: Annotated[Path, typer.Argument(help="File or folder to convert (see docs/DATA.md per format).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", **OUT_PARSING, help="Folder to write the prepared cache into."),
    ],
    workers: Annotated[
        int, typer.Option(min=0, max=256, help="Parser processes (default: min(2, CPUs)).")
    ] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing prepared cache at --out.")
    ] = False,
    classes: Annotated[
        Path | None, typer.Option(help="Class-name file (.txt one per line, or .tsv with a 'name' column).")
    ] = None,
    names: Annotated[
        Path | None,
        typer.Option(help="ctrgcn-npz: CTR-GCN's skes_available_name.txt, to restore sample names."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="ntu-skeleton / pyskl-pkl: ntu60 or ntu120 (default: from the data).")
    ] = None,
    layout: Annotated[
        str | None, typer.Option(help="generic: skeleton layout (ntu25, kinect20, msr20, coco17).")
    ] = None,
    label_file: Annotated[
        str | None,
        # no default here: the reader's is 'modified', and only a --label-file given reaches it
        typer.Option(help="utkinect: 'modified' (corrected ranges, default) or 'original' labels."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Only list what would be parsed (files, dataset, notes); write nothing."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation report as JSON.")] = False,
) -> None:
    """Parse SOURCE in parallel, skip and report bad samples, and write a memory-mapped cache + report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from crossglg.data.prepare import prepare as run_prepare
    from crossglg.outputs import writable_folder

    options = {
        "class_file": classes,
        "names_file": names,
        "dataset": dataset,
        "layout": layout,
        "label_file": label_file,
    }
    options = {k: v for k, v in options.items() if v is not None}  # only the options given
    _check_options(fmt, options)
    if dry_run:
        _dry_run(source, fmt, options, as_json)
        return
    writable_folder(out, "prepared cache")
    workers = workers or min(2, os.cpu_count() or 1)
    columns = (TextColumn("parsing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=as_json) as progress:
        task = progress.add_task("parse", total=None)
        report = run_prepare(
            source, fmt, out, workers=workers, force=force,
            options=options,
            on_start=lambda n: progress.update(task, total=n),
            on_unit=lambda: progress.advance(task),
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    typer.echo(
        f"prepared {report['samples']} samples ({report['dataset']}, layout {report['layout']}) into {out}; "
        f"skipped {report['skipped']}"
    )
    for kind, n in report["problems_by_kind"].items():
        typer.echo(f"  {kind}: {n}")
    for p in report["problems"][:10]:
        typer.echo(f"  - {p['where']}: {p['kind']}: {p['message']}")
    if len(report["problems"]) > 10:
        typer.echo(f"  … {len(report['problems']) - 10} more in {out / 'report.md'}")
    if report["missing_vs_official"]:
        typer.echo(f"  missing vs the official list: {len(report['missing_vs_official'])} (see report.md)")
    typer.echo(f"report: {out / 'report.md'}")


def _check_options(fmt: str, options: dict) -> None:
    """Refuse a bad option value, then an option that ``fmt`` does not read, before anything is opened.

    Readers ignore the options of other formats, so ``--layout bogus`` on MSR data (or a typo in
    any dry run) would otherwise pass unnoticed, and a valid ``--layout kinect20`` there would pass
    for applied; ``options`` holds only the options given, so a default never counts as given.
    """
    from crossglg.data.readers.utkinect import check_label_file
    from crossglg.vocab.layouts import get_layout

    if options.get("dataset") not in (None, *DATASETS):
        raise UserError(f"--dataset must be one of {', '.join(DATASETS)}, got {options['dataset']!r}")
    if "label_file" in options:
        check_label_file(options["label_file"])
    if "layout" in options:
        get_layout(options["layout"])  # a UserError naming the known layouts
    for key in ("class_file", "names_file"):
        if key in options and not options[key].is_file():
            raise UserError(f"{options[key]}: {OPTION_FLAGS[key]} must name a file (not found, or a folder)")
    read = options_read(fmt)  # an unknown --format is refused as such, not as a format that reads no option
    if read is None:
        return  # a plug-in format: which options it reads is its own business
    unused = [
        f"{OPTION_FLAGS[key]} is not used by --format {fmt} "
        f"(only by: {', '.join(f for f in READERS.names() if key in (options_read(f) or ()))})"
        for key in options
        if key not in read
    ]
    if unused:
        raise UserError("; ".join(unused))


def _dry_run(source: Path, fmt: str, options: dict, as_json: bool) -> None:
    """A full NTU-120 prepare takes a while: show first what it would read."""
    from crossglg.data.readers import scan_source

    scan = scan_source(source, fmt, **options)
    summary = {
        "source": str(source),
        "format": scan.format,
        "dataset": scan.dataset,
        "layout": scan.layout,
        "classes": len(scan.class_names),
        "units": len(scan.units),
        "expected_count": scan.expected_count,
        "notes": [p.as_dict() for p in scan.problems],
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    typer.echo(
        f"would parse {len(scan.units)} files/units as {scan.dataset} (layout {scan.layout}); nothing written"
    )
    for p in scan.problems[:10]:
        typer.echo(f"  - {p.where}: {p.kind}: {p.message}")
    if len(scan.problems) > 10:
        typer.echo(f"  … {len(scan.problems) - 10} more")


@data_app.command()
def info(
    folder: Annotated[Path, typer.Argument(help="A prepared cache folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a prepared cache: samples, classes, frames, persons, subjects, views."""
    from crossglg.data.prepared import open_prepared

    summary = open_prepared(folder).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    for key, value in summary.items():
        typer.echo(f"{key:>18}: {value}")


@data_app.command()
def split(
    folder: Annotated[Path, typer.Argument(help="A prepared cache folder.")],
    protocol: Annotated[
        str,
        typer.Option(
            help="Built-in protocol name (e.g. msr-action3d, ntu120-aux40) or a protocol TOML file."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Apply a one-shot protocol to a prepared cache and count auxiliary / exemplar / query samples."""
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.vocab.protocols import load_protocol

    data = open_prepared(folder)
    proto = load_protocol(protocol, dataset=data.dataset)
    counts = split_prepared(data, proto).counts()
    differ = {k: v for k, v in proto.expected.items() if counts.get(k) != v}
    if as_json:
        typer.echo(json.dumps({"protocol": proto.name, **counts, "documented": proto.expected}, indent=1))
        return
    typer.echo(f"protocol {proto.name} on {folder}:")
    for key, value in counts.items():
        typer.echo(f"{key:>18}: {value}")
    if differ:  # expected with partial data (e.g. only some NTU setups downloaded)
        typer.echo(f"note: documented counts for the full data set: {proto.expected}")
