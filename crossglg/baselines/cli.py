"""`crossglg baseline dtw`: the non-learned one-shot reference on any prepared dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def dtw(
    data: Path = typer.Option(..., "--data", help="Prepared data folder (from `crossglg data prepare`)."),
    protocol: str = typer.Option(..., "--protocol", help="One-shot protocol name or TOML file."),
    frames: int = typer.Option(
        32, min=2, max=10_000, help="Frames each sequence is resampled to before DTW."
    ),
    calibrated: bool = typer.Option(
        False,
        "--calibrated",
        help="Divide each class's distances by its exemplar's mean distance to the other exemplars "
        "(the ndtw read-out, docs/TRAINING.md).",
    ),
    mirror: bool = typer.Option(
        False,
        "--mirror",
        help="Let a class match its exemplar done with the other side too (left-right mirror; "
        "for data where people use either hand).",
    ),
    view: bool = typer.Option(
        False,
        "--view",
        help="Turn each clip into its first frame's body frame first (for data filmed from several "
        "sides; on front-facing MSR it costs ~10 points, docs/RESULTS.md).",
    ),
    learn_weights: bool = typer.Option(
        False,
        "--learn-weights",
        help="First learn a weight per joint coordinate on the protocol's auxiliary classes (one-shot "
        "episodes, ~1 min on a CPU; +2.1 points over --calibrated alone on MSR, docs/RESULTS.md).",
    ),
    weights_file: Path | None = typer.Option(
        None,
        "--weights",
        help="Use coordinate weights saved by --save-weights (another layout is re-indexed).",
    ),
    save_weights: Path | None = typer.Option(
        None, "--save-weights", help="With --learn-weights: write the learned weights to this JSON file."
    ),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed of the episodes --learn-weights draws."),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="With --learn-weights or --weights: draw the weights on a skeleton, one panel per axis (PNG).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """One-shot accuracy of nearest exemplar by DTW on normalised joints (learns nothing unless
    --learn-weights)."""
    import numpy as np

    from crossglg.baselines.dtw import Matching, class_distances, normalise
    from crossglg.baselines.dtw_weights import LearnedWeights
    from crossglg.data.prepared import CACHE_FILES, open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.errors import UserError
    from crossglg.outputs import not_an_input, writable_file
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    if learn_weights and weights_file is not None:
        raise UserError("--learn-weights and --weights: choose one")
    if save_weights is not None and not learn_weights:
        raise UserError("--save-weights needs --learn-weights")
    if plot is not None and not learn_weights and weights_file is None:
        raise UserError("--plot draws coordinate weights: add --learn-weights or --weights")
    # the outputs are renamed over their place: never over the cache, the protocol or the weights
    # read, nor over each other (the picture would replace the weights just saved)
    inputs = [Path(data) / name for name in CACHE_FILES] + [weights_file]
    inputs += [Path(protocol)] if Path(protocol).is_file() else []  # a protocol by name is no file
    for path, what in ((save_weights, "weights file"), (plot, "PNG file")):
        if path is not None:
            not_an_input(path, inputs, what)
            writable_file(path, what)
    if save_weights is not None and plot is not None and save_weights.resolve() == plot.resolve():
        raise UserError(f"--save-weights and --plot both name {plot}; name two files")
    saved = LearnedWeights.load(weights_file) if weights_file is not None else None
    if saved is not None and saved.view != view:
        raise UserError(
            f"{weights_file}: learned {'with' if saved.view else 'without'} --view; run the same way"
        )
    ds = open_prepared(data)
    proto = load_protocol(protocol, ds.dataset)
    split = split_prepared(ds, proto)
    layout = get_layout(ds.layout)
    labels = np.asarray(ds.labels)

    def clips(idx) -> np.ndarray:
        return np.stack([normalise(ds.sequence(int(i)), layout, frames, view) for i in idx])

    if learn_weights:
        saved = _learn(clips, split.auxiliary, labels, layout, (view, ds.dataset), seed, as_json)
    elif saved is not None:
        saved.check_unseen(ds.dataset, labels[split.exemplar] + 1)
    ex, qs = clips(split.exemplar), clips(split.query)
    weights = None if saved is None else saved.for_layout(layout)
    matching = Matching(mirror=layout if mirror else None, weights=weights)
    classes, dist = class_distances(qs, ex, labels[split.exemplar], calibrated, matching)
    pred = classes[dist.argmin(axis=1)]
    truth = labels[split.query]
    acc = float((pred == truth).mean())
    method = "ndtw" if calibrated else "dtw"
    result = {"protocol": proto.name, "method": method, "mirror": mirror, "view": view}
    result.update({"weights": _source(learn_weights, weights_file), "queries": len(truth), "accuracy": acc})
    if save_weights is not None and saved is not None:
        saved.save(save_weights)
    if as_json:
        print(json.dumps(result))
    else:
        label = ("calibrated DTW" if calibrated else "DTW") + "".join(
            f" + {name}"
            for name, on in (("mirror", mirror), ("body frame", view), ("learned weights", weights))
            if on
        )
        print(f"{label} nearest exemplar on {proto.name}: {acc * 100:.1f}% top-1 over {len(truth)} queries")
    if plot is not None and weights is not None:  # after the result: a failed picture loses no figure
        first = split.auxiliary[0] if learn_weights else split.exemplar[0]
        _plot(weights, ds.sequence(int(first)), layout, plot)


def _learn(clips, auxiliary, labels, layout, source: tuple[bool, str], seed: int, quiet: bool):
    """Weights learned on the auxiliary clips, under a progress bar of episodes (a minute or so on a CPU);
    ``source``: (body frame or not, the dataset's name), recorded with them."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from crossglg.baselines.dtw_weights import EPISODES, learn_weights
    from crossglg.errors import UserError

    if len(auxiliary) == 0:
        raise UserError(
            "--learn-weights: this protocol trains no class; learn on one that does (--save-weights) "
            "and pass the file with --weights"
        )
    frames = clips(auxiliary)
    columns = (TextColumn(f"learning DTW weights on {len(auxiliary)} auxiliary clips"), BarColumn(),
               MofNCompleteColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=quiet) as progress:
        task = progress.add_task("episodes", total=EPISODES)
        return learn_weights(frames, labels[auxiliary], layout, *source, seed, lambda: progress.advance(task))


def _plot(weights: tuple[float, ...], clip, layout, path: Path) -> None:
    """The weights of each axis on the clip's middle pose: which joints the metric turned up or down."""
    import numpy as np

    from crossglg.data.pictures import weighted_skeletons
    from crossglg.errors import UserError

    w = np.asarray(weights).reshape(layout.num_joints, 3).T  # [axis, V]
    pose = np.asarray(clip[len(clip) // 2, 0])
    titles = [
        f"{axis} weights ({row.min():.2f} to {row.max():.2f})" for axis, row in zip("xyz", w, strict=True)
    ]
    try:
        weighted_skeletons(np.stack([pose] * 3), w, layout.bones, titles, path, shared_scale=True)
    except ValueError as err:  # a write error is already one line (crossglg/outputs.py)
        raise UserError(f"{path}: cannot draw the picture ({err})") from None


def _source(learned: bool, path: Path | None) -> str | None:
    """Where the coordinate weights came from, for the --json result."""
    return "learned" if learned else (str(path) if path is not None else None)


def register(app: typer.Typer) -> None:
    baseline = typer.Typer(
        help="Reference classifiers: DTW nearest exemplar, optionally with coordinate weights learned "
        "on the auxiliary classes.",
        no_args_is_help=True,
    )
    baseline.command("dtw")(dtw)
    app.add_typer(baseline, name="baseline")
