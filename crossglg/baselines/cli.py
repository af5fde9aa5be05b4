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
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """One-shot accuracy of nearest exemplar by DTW on normalised joints (learns nothing)."""
    import numpy as np

    from crossglg.baselines.dtw import Matching, class_distances, normalise
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    ds = open_prepared(data)
    proto = load_protocol(protocol, ds.dataset)
    split = split_prepared(ds, proto)
    layout = get_layout(ds.layout)
    feats = {
        int(i): normalise(ds.sequence(int(i)), layout, frames, view) for i in (*split.exemplar, *split.query)
    }
    ex = np.stack([feats[int(i)] for i in split.exemplar])
    qs = np.stack([feats[int(i)] for i in split.query])
    matching = Matching(mirror=layout if mirror else None)
    classes, dist = class_distances(qs, ex, np.asarray(ds.labels)[split.exemplar], calibrated, matching)
    pred = classes[dist.argmin(axis=1)]
    truth = np.asarray(ds.labels)[split.query]
    acc = float((pred == truth).mean())
    method = "ndtw" if calibrated else "dtw"
    result = {"protocol": proto.name, "method": method, "mirror": mirror, "view": view}
    result.update({"queries": len(truth), "accuracy": acc})
    if as_json:
        print(json.dumps(result))
    else:
        label = ("calibrated DTW" if calibrated else "DTW") + "".join(
            f" + {name}" for name, on in (("mirror", mirror), ("body frame", view)) if on
        )
        print(f"{label} nearest exemplar on {proto.name}: {acc * 100:.1f}% top-1 over {len(truth)} queries")


def register(app: typer.Typer) -> None:
    baseline = typer.Typer(help="Non-learned reference classifiers.", no_args_is_help=True)
    baseline.command("dtw")(dtw)
    app.add_typer(baseline, name="baseline")
