"""``crossglg model-info``: what CrossGLG costs on each encoder, in parameters and FLOPs."""

from __future__ import annotations

import json

import typer

from crossglg.models.config import MAX_CLASSES, MAX_HIDDEN_MULT, MAX_TEXT_DIM
from crossglg.models.registry import ENCODERS


def model_info_command(
    encoder: str = typer.Option(
        "all", "--encoder", "-e", help=f"Encoder: {', '.join(ENCODERS.names())} or all."
    ),
    layout: str = typer.Option(
        "ntu25", "--layout", "-l", help="Skeleton layout: ntu25, kinect20, msr20, coco17."
    ),
    num_classes: int = typer.Option(
        100,
        "--num-classes",
        min=1,
        max=MAX_CLASSES,
        help="Training classes (classifier size); 100 = NTU-120 one-shot auxiliary set.",
    ),
    frames: int = typer.Option(
        64, "--frames", min=1, max=100_000, help="Frames per sample for the FLOP count."
    ),
    persons: int = typer.Option(2, "--persons", min=1, max=16, help="Person slots per sample (M)."),
    text_dim: int = typer.Option(
        384, "--text-dim", min=1, max=MAX_TEXT_DIM, help="Width of the local-text vectors (MiniLM 384)."
    ),
    parts: str = typer.Option("parts6", "--parts", help="Text tokens: parts6 or joints."),
    jid_hidden_mult: int = typer.Option(
        None,
        "--jid-hidden-mult",
        min=1,
        max=MAX_HIDDEN_MULT,
        help="JID hidden width as a multiple of its input channels (default 4).",
    ),
    stream: str = typer.Option(
        "joint",
        "--stream",
        help="Input stream the model is fed: joint, bone, motion or several joined by '+' "
        "(joint+bone+motion: 9 input channels), as training's input_stream.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per encoder in a list."),
) -> None:
    """Print total and inference-only parameters and per-sample FLOPs, base vs +CrossGLG."""
    import torch
    from rich.console import Console

    from crossglg.errors import UserError
    from crossglg.models.config import ModelConfig
    from crossglg.models.report import model_info
    from crossglg.vocab.streams import StreamError, stream_channels

    names = ENCODERS.names() if encoder == "all" else [encoder]
    if encoder != "all" and encoder not in ENCODERS:
        raise UserError(f"--encoder {encoder!r}: choose one of {', '.join(ENCODERS.names())} or all")
    torch.manual_seed(0)
    jid = {} if jid_hidden_mult is None else {"hidden_mult": jid_hidden_mult}
    try:
        channels = stream_channels(stream)
    except StreamError as err:
        raise UserError(f"--stream {stream!r}: {err.problem}") from None
    console = Console(stderr=True)
    infos = []
    with console.status("counting parameters and FLOPs") as status:
        for name in names:
            status.update(f"counting {name} on {layout}")
            cfg = ModelConfig.from_dict(
                {
                    "l2g": {"text_dim": text_dim, "parts": parts},
                    "jid": jid,
                    "encoder": {"in_channels": channels},
                }
            )
            infos.append(model_info(name, layout, num_classes, cfg, frames, persons))
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    _print_table(infos)


def _print_table(infos) -> None:
    """One column per encoder, one row per figure: stays readable in an 80-column terminal."""
    from rich.console import Console
    from rich.table import Table

    first = infos[0]
    table = Table(
        title=f"{first.layout}, {first.num_classes} classes, {first.text_tokens} text tokens; "
        f"FLOPs per sample ({first.frames} frames, {first.persons} persons)"
    )
    table.add_column("")
    for i in infos:
        table.add_column(i.encoder, justify="right")
    rows = [
        ("N_pre / JID hidden", lambda i: f"{i.n_pre} / {i.jid_hidden}"),
        ("params, base (train)", lambda i: _m(i.base_params)),
        ("params, +CrossGLG (train)", lambda i: _m(i.crossglg_params)),
        ("inference params, base", lambda i: _m(i.base_inference_params)),
        ("inference params, +CrossGLG", lambda i: _m(i.crossglg_inference_params)),
        ("inference overhead", lambda i: f"+{100 * i.inference_overhead:.1f} %"),
        ("JID params", lambda i: _m(i.jid_params)),
        ("L2G params (train only)", lambda i: _m(i.l2g_params)),
        ("GFLOPs inference, base", lambda i: f"{i.base_inference_flops / 1e9:.3f}"),
        ("GFLOPs inference, +CrossGLG", lambda i: f"{i.crossglg_inference_flops / 1e9:.3f}"),
        ("GFLOPs train forward, +CrossGLG", lambda i: f"{i.crossglg_train_flops / 1e9:.3f}"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(i) for i in infos))
    Console().print(table)


def _m(n: int) -> str:
    return f"{n / 1e6:.3f}M"


def register(app: typer.Typer) -> None:
    app.command("model-info")(model_info_command)
