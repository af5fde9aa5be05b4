"""Checkpoints: written atomically, read without ever running code from the file.

A run killed mid-write still has its previous epoch. A checkpoint is something users pass
around, so it is untrusted input (docs/SECURITY.md): it holds only tensors and plain data and
is read with ``torch.load(weights_only=True)``, which refuses any other Python object. Paths
in its configuration are stored relative to the run directory, so ``crossglg eval RUN``
finds the run's data and text cache from any working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from crossglg.errors import UserError
from crossglg.fieldcheck import accepts
from crossglg.outputs import replaced_file

LAST = "last.pt"
BEST = "best.pt"
# configuration keys that name files or folders; protocol and parts only when they name a file
PATH_KEYS = ("data", "text_cache", "protocol", "parts")
RUN_RELATIVE = "run_relative"  # checkpoint key: the PATH_KEYS stored relative to the run directory


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Whole or not at all, so a crash mid-save leaves the previous checkpoint to resume from."""
    import torch

    with replaced_file(path, "checkpoint") as fh:
        torch.save(obj, fh)


def load_weights(path: Path, what: str, data: bytes | None = None) -> Any:
    """``torch.load`` restricted to tensors and plain data; anything else is a one-line UserError.

    With ``weights_only=True`` the unpickler resolves no arbitrary global, so a crafted file
    cannot execute code while it is read. ``data``, where given, is the file's content already
    read (and checked) by the caller; ``path`` then only names it in messages.
    """
    import io
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            # torch's note on a pickle protocol it did not write, printed with its own source line
            # before our verdict on the file; the verdict says all the user needs
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(
                path if data is None else io.BytesIO(data), map_location="cpu", weights_only=True
            )
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found is None:
            raise UserError(
                f"{what} {path} cannot be read: not a PyTorch file of tensors and plain data"
            ) from None
        raise UserError(
            f"{what} {path}: it refers to {found.group(1)}, which is neither a tensor nor plain data; refused, "
            "since unpickling it could run code (crossglg never writes such objects: the file was made or "
            "altered elsewhere; unpickle it yourself only if you trust its source)"
        ) from None
    except Exception as err:  # a truncated or foreign file
        if not _looks_like_torch(path, data):  # torch's own words for a text file: "list index out of range"
            raise UserError(
                f"{what} {path} cannot be read: not a PyTorch file (neither a zip archive nor a pickle)"
            ) from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        # a copy cut short says only "[Errno 22] Invalid argument" or "failed finding central directory"
        raise UserError(f"{what} {path} cannot be read: cut short or damaged ({first})") from None


def _looks_like_torch(path: Path, data: bytes | None = None) -> bool:
    """Whether the file starts as ``torch.save`` writes: a zip archive, or a legacy pickle."""
    if data is not None:
        head = data[:4]
    else:
        try:
            with open(path, "rb") as fh:
                head = fh.read(4)
        except OSError:
            return True  # let torch's own error name the problem
    return head.startswith((b"PK\x03\x04", b"\x80"))


def load(path: Path) -> dict[str, Any]:
    """A training checkpoint whose fields have the types the commands use; else a one-line UserError.

    The weights-only loader guarantees plain data, not the right plain data: an ``epoch`` of
    ``"x"`` or a ``history`` that is a string used to end in an ``internal error`` (a resumed run
    only after a whole epoch of training), and a negative ``epoch`` resumed from before epoch 1.
    """
    if not Path(path).is_file():
        raise UserError(f"checkpoint {path} not found")
    ckpt = load_weights(path, "checkpoint")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict) or "model" not in ckpt:
        raise UserError(f"checkpoint {path} is not a crossglg training checkpoint")
    _check_fields(ckpt, path)
    return ckpt


def _check_fields(ckpt: dict[str, Any], path: Path) -> None:
    """The fields ``eval``, ``export`` and ``--resume`` read, each of the type crossglg writes."""
    import torch

    from crossglg.train.config import TRAIN_RANGES

    max_epoch = int(TRAIN_RANGES["epochs"][1])  # --epochs' bound: a checkpoint's 0-based epoch is below it

    def bad(field: str, wanted: str) -> UserError:
        return UserError(
            f"checkpoint {path}: field {field!r} must be {wanted} (the file was altered or damaged)"
        )

    model = ckpt["model"]
    if not isinstance(model, dict) or not model:
        raise bad("model", "a non-empty mapping of parameter names to tensors")
    for name, value in model.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise bad(f"model.{name}", "a tensor")
    epoch = ckpt.get("epoch")
    if not accepts(int, epoch) or not 0 <= epoch < max_epoch:
        raise bad("epoch", f"an integer in 0..{max_epoch - 1}")
    relative = ckpt.get(RUN_RELATIVE, [])
    if not isinstance(relative, list) or not all(isinstance(k, str) for k in relative):
        raise bad(RUN_RELATIVE, "a list of configuration keys")
    history = ckpt.get("history", [])
    if not isinstance(history, list):
        raise bad("history", "a list of per-epoch rows")
    for i, row in enumerate(history):
        if not isinstance(row, dict) or not accepts(int, row.get("epoch")):
            raise bad(f"history[{i}]", "a row of numbers with an integer 'epoch'")
        for key, value in row.items():
            if not isinstance(key, str) or not accepts(float, value):
                raise bad(f"history[{i}].{key}", "a number")
    if not accepts(float, ckpt.get("best", -1.0)):
        raise bad("best", "a number")
    if not accepts(int, ckpt.get("best_epoch", -1)):
        raise bad("best_epoch", "an integer")
    for key in ("optimizer", "scheduler", "scaler", "average"):
        if ckpt.get(key) is not None and not isinstance(ckpt[key], dict):
            raise bad(key, "a mapping (a state dict) or none")


def load_model(model: Any, state: dict[str, Any], path: Path) -> None:
    """Load the checkpoint's weights into ``model``, or a one-line UserError naming the first misfit.

    torch's own error is a paragraph ending in an ``internal error``; and a weight that is NaN or
    infinite (which training never saves: a non-finite loss stops it) would make every read-out
    a tie broken by index order, printed as an accuracy.
    """
    import torch

    for name, value in state["model"].items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise UserError(
                f"checkpoint {path}: weight {name!r} holds NaN or infinite values (the file was altered "
                "or damaged; training stops before it saves such a model)"
            )
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError) as err:
        raise UserError(f"checkpoint {path}: its weights do not fit its model ({misfit(err)})") from None


def misfit(err: BaseException) -> str:
    """torch's ``load_state_dict`` error on one line, without its first line, which only says
    "Error(s) in loading state_dict for X:": what does not fit is what follows it."""
    text = re.sub(r"^Error\(s\) in loading state_dict for \w+: ", "", " ".join(str(err).split()))
    return text if len(text) <= 240 else text[:237] + "..."


def resolve(path: Path) -> Path:
    """Accept a run directory as well as a checkpoint file: the directory means its best.pt."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise UserError(f"run directory {path} holds no {BEST} or {LAST}")
    return path


def portable_config(config: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """``config`` with its relative paths rewritten relative to ``run_dir``, and the keys rewritten.

    A protocol or part set given by name (``ntu60``, ``parts6``) stays as it is.
    """
    out, moved = dict(config), []
    for key in PATH_KEYS:
        value = out.get(key)
        if not value or os.path.isabs(value):
            continue
        if key in ("protocol", "parts") and not Path(value).is_file():
            continue
        out[key] = os.path.relpath(os.path.abspath(value), os.path.abspath(run_dir))
        moved.append(key)
    return out, moved


def run_config(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The checkpoint's configuration with run-relative paths made absolute again.

    Checkpoints written before paths were stored relative to the run keep their paths as they
    are (relative to the working directory, as those versions read them).
    """
    config = dict(state["config"])
    for key in state.get(RUN_RELATIVE, ()):
        if key in PATH_KEYS and isinstance(config.get(key), str):
            config[key] = os.path.normpath(os.path.join(os.path.abspath(Path(path).parent), config[key]))
    return config


def config_from(state: dict[str, Any], path: Path):
    """A validated :class:`TrainConfig` from a checkpoint; a foreign or crafted config is a UserError.

    A checkpoint saved before the input-pipeline keys existed (no ``crop_min_frames``) was
    trained with the reference pooling, which averages empty person slots in; it keeps it,
    so re-evaluating an old run reproduces its figures (docs/MODELS.md, "Persons").
    """
    import dataclasses

    from crossglg.train.config import TrainConfig

    config = run_config(state, path)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise UserError(
            f"checkpoint {path}: config key {unknown[0]!r} is unknown to this version of crossglg"
        )
    cfg = TrainConfig(**config)
    if "crop_min_frames" not in config:
        encoder = {"mask_empty_persons": False, **cfg.model.get("encoder", {})}
        cfg.model = {**cfg.model, "encoder": encoder}
    cfg.check_values(f"checkpoint {path}")
    return cfg
