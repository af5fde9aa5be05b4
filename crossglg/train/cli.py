"""``crossglg train | eval | export | predict | transfer | compare``: the trainer's commands.

Heavy imports (torch, the model, the data layer) happen inside the commands so that
``crossglg --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from typer.core import TyperCommand

from crossglg.cli_numbers import real
from crossglg.cli_support import checked_device, out_option, printable
from crossglg.errors import UserError
from crossglg.models.registry import ENCODERS
from crossglg.outputs import writable_folder
from crossglg.train.config import TRAIN_RANGES
from crossglg.train.oneshot import CLASSIFIERS, FUSION_WEIGHT, JOINT_READOUTS, resolve_classifiers

CLASSIFIER_OPTION = typer.Option(
    ["all"],
    "--classifier",
    help=f"Read-out to report (repeatable): {', '.join(CLASSIFIERS)}, or all (docs/TRAINING.md).",
)
DTW_WEIGHTS_OPTION = typer.Option(
    None,
    "--dtw-weights",
    help="Coordinate weights saved by `crossglg baseline dtw --learn-weights --save-weights`: the dtw, "
    "ndtw and fused read-outs match the weighted joints (docs/TRAINING.md, 'Read-outs').",
)
FUSION_OPTION = typer.Option(
    FUSION_WEIGHT,
    "--fusion-weight",
    help="Weight of the learned (cl2n) score in the fused read-out; the rest goes to calibrated joint DTW (ndtw).",
)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("export")(export)
    app.command("predict")(predict)
    app.command("transfer")(transfer)
    app.command("compare", cls=_AgainstTakesPaths)(compare)


def train(
    text_cache: Path = typer.Option(
        None, "--text-cache", help="SQLite text cache with embedded local texts (crossglg-text)."
    ),
    data: Path = typer.Option(
        None, "--data", help="Prepared data directory (crossglg data prepare / synth)."
    ),
    protocol: str = typer.Option(None, "--protocol", help="One-shot protocol name or protocol file."),
    encoder: str = typer.Option(None, "--encoder", help=f"Skeleton encoder: {', '.join(ENCODERS.names())}."),
    text_dataset: str = typer.Option(
        None,
        "--text-dataset",
        help="Dataset name of the texts in --text-cache (default: the prepared data's, e.g. generic).",
    ),
    text_source: str = typer.Option(
        None,
        "--text-source",
        help="Which texts when the cache holds several: openai:gpt-4o, pack:msr-action3d@1, import:LABEL.",
    ),
    no_text: bool = typer.Option(
        None, "--no-text/--text", help="Train the plain base encoder (no JID, no L2G, no text)."
    ),
    config: Path = typer.Option(None, "--config", "-c", help="TOML config file; CLI options override it."),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Override any config key: KEY=VALUE (TOML value), e.g. lr_steps=[30,40] or model.jid.n_pre=4.",
    ),
    out: Path = out_option("Run directory (checkpoints, metrics, pictures, eval)."),
    epochs: int = typer.Option(
        None, "--epochs", min=1, max=TRAIN_RANGES["epochs"][1], help="Number of epochs (default 110)."
    ),
    batch_size: int = typer.Option(
        None,
        "--batch-size",
        min=1,
        max=TRAIN_RANGES["batch_size"][1],
        help="Global batch size, split over DDP processes (default 128).",
    ),
    lr: float = typer.Option(
        None,
        "--lr",
        callback=real(0, low_open=True),
        help="Base learning rate of SGD-Nesterov (default 0.1).",
    ),
    seed: int = typer.Option(None, "--seed", min=0, max=2**63 - 1, help="Random seed (default 1)."),
    embedder: str = typer.Option(
        None, "--embedder", help="Text-bank embedder name when the cache holds several."
    ),
    parts: str = typer.Option(None, "--parts", help="Local-text granularity: parts6, joints or a part file."),
    amp: str = typer.Option(None, "--amp", help="Mixed precision: auto (bf16 on CUDA), bf16, fp16 or off."),
    compile_: bool = typer.Option(None, "--compile/--no-compile", help="torch.compile the model (CUDA)."),
    deterministic: bool = typer.Option(
        None, "--deterministic/--nondeterministic", help="Bitwise-repeatable kernels (slower)."
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when available)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from its last checkpoint."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print the resolved config, data counts, parameter counts and steps; train nothing.",
    ),
    print_config: bool = typer.Option(
        False,
        "--print-config",
        help="Print the resolved config (defaults, --config with its extends chain, --set, options) "
        "as TOML, or JSON with --json, and exit: nothing is read or trained.",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the final summary (or the dry-run report) as JSON."
    ),
) -> None:
    """Train a skeleton encoder on the protocol's auxiliary classes, guided by LLM text.

    For several GPUs or nodes launch it with torchrun (``torchrun --nproc-per-node N -m crossglg.cli
    train ...``): PyTorch DDP, each process takes its share of every global batch.
    """
    from crossglg.train.config import load_config

    if device:  # named as the option here; one from --config or --set is checked by cfg.validate()
        device = checked_device(device, "--device")
    overrides = {
        "text_cache": str(text_cache) if text_cache else None,
        "text_dataset": text_dataset,
        "text_source": text_source,
        "data": str(data) if data else None,
        "protocol": protocol,
        "encoder": encoder,
        "no_text": no_text,
        "out": str(out) if out else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "embedder": embedder,
        "parts": parts,
        "amp": amp,
        "compile": compile_,
        "deterministic": deterministic,
        "device": device,
    }
    if resume and config is None and out is not None and (out / "config.toml").is_file():
        config = out / "config.toml"
    cfg = load_config(config, overrides, set_)
    if print_config:
        cfg.check_values("config")
        if json_out:
            print(json.dumps(cfg.to_dict(), indent=1))
        else:
            import tomli_w

            print(tomli_w.dumps(cfg.to_dict()), end="")
        return
    cfg.validate()
    if dry_run:
        from crossglg.train.dry_run import dry_run as plan

        report = plan(cfg)
        _print(report, json_out, title="dry run: nothing trained")
        return
    writable_folder(Path(cfg.out), "run")
    console = None
    if not json_out:
        from rich.console import Console

        console = Console(stderr=True)
    from crossglg.train.loop import run_training

    summary = run_training(cfg, resume=resume, console=console)
    if summary.get("cosine") is not None:
        _print(summary, json_out, title="one-shot accuracy on the novel classes")


def evaluate(
    checkpoint: list[Path] = typer.Argument(
        ...,
        help="A checkpoint (best.pt / last.pt) or a run directory (uses best.pt); several: one seed "
        "ensemble (their scores standardised and averaged per query; needs --out).",
    ),
    shots: int = typer.Option(
        1, "--shots", "-k", min=1, help="Exemplars per novel class; k > 1 takes extra ones from the queries."
    ),
    out: Path = out_option("Where results.json and the PNGs go (default: RUN/eval[-kshot])."),
    data: Path = typer.Option(None, "--data", help="Prepared data directory, when it moved since training."),
    device: str = typer.Option("", "--device", help="cpu, cuda or cuda:N (default: cuda when available)."),
    picture: list[str] = typer.Option(
        [],
        "--picture",
        help="Sample name for the joint-importance picture (repeatable; default: the first novel exemplars).",
    ),
    classifier: list[str] = CLASSIFIER_OPTION,
    fusion_weight: float = FUSION_OPTION,
    tta: list[str] = typer.Option(
        [],
        "--tta",
        help="Test-time view averaged with the samples as they are (repeatable): mirror (left-right; "
        "docs/TRAINING.md, 'Test-time views').",
    ),
    dtw_weights: Path | None = DTW_WEIGHTS_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print the accuracies as JSON."),
) -> None:
    """Re-evaluate a checkpoint one-shot on the novel classes, every read-out side by side; several
    checkpoints of one split (e.g. seeds) are evaluated as one ensemble."""
    from crossglg.train.checkpoint import resolve
    from crossglg.train.checkpoint_eval import check_views, evaluate_checkpoint, evaluate_ensemble

    classifiers = resolve_classifiers(classifier)
    device = checked_device(device, "--device") if device else ""
    views = check_views(tta)
    _check_weight(fusion_weight)
    _check_dtw_weights(dtw_weights, classifiers)
    paths = [resolve(c) for c in checkpoint]
    if len(set(paths)) < len(paths):
        raise UserError("crossglg eval: a checkpoint is named twice; an ensemble takes each model once")
    data_dir = str(data) if data else ""
    if len(paths) > 1:
        if out is None:
            raise UserError(
                "crossglg eval: several checkpoints make one ensemble; say where it goes with --out"
            )
        if picture:
            raise UserError("crossglg eval: --picture draws one model's joint weights; name one checkpoint")
        writable_folder(out, "evaluation")
        summary = evaluate_ensemble(paths, out, device=device, shots=shots, data=data_dir,
                                    classifiers=classifiers, fusion_weight=fusion_weight, views=views,
                                    dtw_weights=dtw_weights)  # fmt: skip
        _print(summary, json_out, title=f"{shots}-shot accuracy of {len(paths)} models on the novel classes")
        return
    if out is None:
        out = paths[0].parent / ("eval" if shots == 1 else f"eval-{shots}shot")
    writable_folder(out, "evaluation")
    summary = evaluate_checkpoint(
        paths[0], out, device=device, shots=shots, data=data_dir, picture=picture,
        classifiers=classifiers, fusion_weight=fusion_weight, views=views, dtw_weights=dtw_weights,
    )  # fmt: skip
    _print(summary, json_out, title=f"{shots}-shot accuracy on the novel classes")


def export(
    checkpoint: Path = typer.Argument(..., help="A checkpoint or a run directory (uses best.pt)."),
    out: Path = out_option("Export directory (default: RUN/export)."),
    data: Path = typer.Option(None, "--data", help="Prepared data directory, when it moved since training."),
    json_out: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write the text-free inference model (encoder + JID): state dict, TorchScript and metadata."""
    from crossglg.train.checkpoint import resolve
    from crossglg.train.export import export_checkpoint

    path = resolve(checkpoint)
    out = out or path.parent / "export"
    writable_folder(out, "export")
    info = export_checkpoint(path, out, data=str(data) if data else "")
    _print(info, json_out, title="exported")


def predict(
    export_dir: Path = typer.Argument(..., help="Directory written by `crossglg export`."),
    queries: list[Path] = typer.Argument(
        ...,
        help="Sequence files to classify: MSR *_skeleton3D.txt, NTU *.skeleton, or generic .npy / .json arrays.",
    ),
    exemplar: list[str] = typer.Option(
        ..., "--exemplar", "-e", help="NAME=FILE: one example sequence of a new action; repeat per action."
    ),
    classifier: str = typer.Option(
        "cosine", "--classifier", help=f"The read-out: one of {', '.join(CLASSIFIERS)} (docs/TRAINING.md)."
    ),
    fusion_weight: float = FUSION_OPTION,
    ensemble: list[Path] = typer.Option(
        [],
        "--ensemble",
        help="Another export of the same layout (repeatable): the exports' scores are standardised "
        "and averaged, a seed or input-stream ensemble (docs/TRAINING.md, 'Seed ensembles').",
    ),
    dtw_weights: Path | None = DTW_WEIGHTS_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print predictions as JSON."),
) -> None:
    """Classify new sequences among new actions, each given by one exemplar: one-shot recognition."""
    from crossglg.train.export import predict_files

    pairs = []
    for item in exemplar:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise UserError(f"--exemplar {item!r}: expected NAME=FILE")
        if not name.isprintable():  # the name is printed as each prediction: no escape reaches the terminal
            raise UserError(f"--exemplar {item!r}: the name holds control characters; use plain text")
        pairs.append((name, Path(file)))
    _check_weight(fusion_weight)
    _check_dtw_weights(dtw_weights, (classifier,))
    rows = predict_files([export_dir, *ensemble], pairs, queries, classifier=classifier,
                         fusion_weight=fusion_weight, dtw_weights=dtw_weights)  # fmt: skip
    if json_out:
        typer.echo(_json(rows))
        return
    for row in rows:
        typer.echo(printable(f"{row['file']}\t{row['prediction']}\t{row['score']:.3f}"))


def transfer(
    export_dir: list[Path] = typer.Argument(
        ...,
        help="Directory written by `crossglg export`; several (one layout): one ensemble, their scores "
        "standardised and averaged per query (docs/TRAINING.md, 'Seed ensembles').",
    ),
    data: Path = typer.Option(..., "--data", help="Prepared data of ANOTHER dataset (any layout)."),
    protocol: str = typer.Option(
        ..., "--protocol", help="One-shot protocol on that data, e.g. utkinect-all10 (every class novel)."
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, max=2**32 - 1, help="Seed of distribution calibration's feature sampling."
    ),
    classifier: list[str] = CLASSIFIER_OPTION,
    fusion_weight: float = FUSION_OPTION,
    dtw_weights: Path | None = DTW_WEIGHTS_OPTION,
    out: Path = out_option(
        "Also write results.json (every query's prediction) and the confusion PNGs here, as `crossglg "
        "eval --out` does, for `crossglg compare`."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the accuracies as JSON."),
) -> None:
    """One-shot accuracy of an exported model (or an ensemble of them) on another dataset, its joints
    mapped between layouts."""
    from crossglg.train.transfer import transfer_eval

    classifiers = resolve_classifiers(classifier)
    _check_weight(fusion_weight)
    _check_dtw_weights(dtw_weights, classifiers)
    if out is not None:
        writable_folder(out, "results")
    result = transfer_eval(export_dir, data, protocol, seed=seed, classifiers=classifiers,
                           fusion_weight=fusion_weight, dtw_weights=dtw_weights, out=out)  # fmt: skip
    if not json_out:
        result.pop("mapping")
    _print(result, json_out, title="cross-dataset one-shot")


def compare(
    runs: list[Path] = typer.Argument(
        ...,
        metavar="RUN",
        help="Condition A: training runs (RUN/eval/results.json), folders of `crossglg eval --out` or "
        "`crossglg transfer --out`, or results.json files; paired in order with --against.",
    ),
    against: list[Path] = typer.Option(
        ...,
        "--against",
        metavar="RUN...",
        help="Condition B, the reference: as many runs as A, in the same order (the same seeds or class "
        "splits); takes every path up to the next option, and may be repeated.",
    ),
    readout: list[str] = typer.Option(
        [],
        "--readout",
        help="Read-out to compare (repeatable; default: every read-out all the files hold).",
    ),
    per_class: bool = typer.Option(
        False, "--per-class", help="Also print each class's accuracy in A and B and their difference."
    ),
    boot: int = typer.Option(
        2000, "--boot", min=100, max=100_000, help="Bootstrap resamples behind each 95 % interval."
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, max=2**63 - 1, help="Seed of the bootstrap: the same seed, the same interval."
    ),
    png: Path | None = typer.Option(
        None,
        "--png",
        metavar="<path>",
        help="Also draw a forest plot to this PNG file: each read-out's difference and interval, a line at 0.",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print everything, per class included, as one JSON document."
    ),
) -> None:
    """Paired difference A − B of two sets of runs (same seeds or class splits) per read-out: a 95 %
    bootstrap interval over runs, then queries, and the runs up, level and down (docs/TRAINING.md,
    'Comparing two sets of runs')."""
    from crossglg.train.compare import compare_runs, forest, table

    summary = compare_runs(runs, against, readout, n_boot=boot, seed=seed, png=png)
    if json_out:
        typer.echo(_json(summary))
    else:
        typer.echo(table(summary, per_class))
    if png is not None:  # after the numbers: a failed picture loses none
        forest(summary, png)
        if not json_out:
            typer.echo(f"picture: {printable(png)}")


def spread_option(args: list[str], option: str) -> list[str]:
    """``OPT A B C`` as ``OPT A OPT B OPT C``: the words after ``option`` up to the next option.

    Click gives an option one value per use, so ``compare X1 X2 --against Y1 Y2`` would hand Y2 to
    the A list; spelled out, the B list keeps its order and its length. ``OPT=A`` stays one value;
    after ``--`` nothing is changed.
    """
    out: list[str] = []
    taking = False
    for i, arg in enumerate(args):
        if arg == "--":
            return [*out, *args[i:]]
        if arg == option:
            taking = True
            if i + 1 == len(args) or args[i + 1].startswith("-"):
                out.append(arg)  # no path follows: click says the option needs a value
            continue
        if taking and not arg.startswith("-"):
            out += [option, arg]
            continue
        taking = False
        out.append(arg)
    return out


class _AgainstTakesPaths(TyperCommand):
    """`crossglg compare`, whose ``--against`` takes several paths in a row (:func:`spread_option`)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread_option(list(args), "--against"))


def _check_weight(weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise UserError(f"--fusion-weight {weight}: must lie in [0, 1]")


def _check_dtw_weights(path: Path | None, classifiers: tuple[str, ...]) -> None:
    """Weights no chosen read-out would use are a mistake to point out, not to ignore."""
    if path is not None and not JOINT_READOUTS & set(classifiers):
        raise UserError(
            f"--dtw-weights: only the {', '.join(sorted(JOINT_READOUTS))} read-outs use it; "
            "choose one of them with --classifier"
        )


def _json(doc: object) -> str:
    """Strict JSON: a non-finite number becomes null, never the bare NaN that JSON parsers reject."""

    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(doc), indent=1, default=str, allow_nan=False)


def _print(doc: dict, as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(_json(doc))
        return
    typer.echo(f"{title}:")
    for key, value in doc.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, dict):
            value = json.dumps(value, default=str)
        typer.echo(f"  {key}: {value}")
