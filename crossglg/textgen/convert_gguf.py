"""``crossglg-text convert-gguf``: a GGUF model as a plain Hugging Face folder that vLLM can load.

vLLM reads Hugging Face folders (safetensors, config.json, tokenizer); the embedded model is a
GGUF file. transformers can read a GGUF, but a model loaded from one refuses
``save_pretrained`` and carries a ``quantization_config`` that vLLM would try to honour. So the
weights are dequantized once, loaded into a fresh model built from the GGUF's config, and
saved without that entry; the tokenizer (with its chat template) is saved beside them
(docs/LOCAL_MODELS.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import tempfile
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from crossglg.errors import UserError

GGUF_MAGIC = b"GGUF"


class Dtype(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


@dataclass
class Converted:
    """What was written, for the command's summary line and ``--json``."""

    source: str
    out: str
    architecture: str
    parameters: int
    dtype: str
    size_bytes: int


def source_path(llm: str) -> Path:
    """``local`` → the embedded SmolLM2 GGUF; anything else must be a readable GGUF file."""
    if llm == "local":
        from crossglg.textgen.backends.llamacpp import embedded_model_path

        return embedded_model_path()
    path = Path(llm)
    if not path.is_file():
        raise UserError(f"--llm {llm}: no such GGUF file")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise UserError(f"--llm {llm}: not a GGUF file (it does not start with 'GGUF')")
    return path


def check_out(out: Path) -> None:
    """Refuse to write over anything: a converted folder is only ever created whole."""
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise UserError(f"{out}: already exists; give a new folder (nothing was written)")
    if not out.resolve().parent.is_dir():
        raise UserError(f"{out}: its parent folder does not exist")


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{package} is not installed: pip install 'crossglg[local]'")


def convert(src: Path, out: Path, dtype: Dtype = Dtype.float32) -> Converted:
    """Write ``src`` (a GGUF file) as a Hugging Face folder ``out``, renamed into place when complete.

    float32 keeps the dequantized weights exact (Q4/Q8 blocks are a scale times small integers),
    so the folder computes what the GGUF computes; bfloat16 halves the size.
    """
    _require("gguf", "gguf")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    check_out(out)
    try:
        config = AutoConfig.from_pretrained(src.parent, gguf_file=src.name)
        with torch.device("meta"):  # shapes only: the real tensors come from the file below
            skeleton = AutoModelForCausalLM.from_config(config)
        tensors = load_gguf_checkpoint(str(src), return_tensors=True, model_to_load=skeleton)["tensors"]
        tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    except (ValueError, KeyError, OSError, struct.error) as err:  # an unmapped architecture, a cut file
        raise UserError(f"{src}: cannot read as a transformers model: {err}") from None
    config.dtype = getattr(torch, dtype.value)
    model = AutoModelForCausalLM.from_config(config, dtype=config.dtype)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = {k for k in missing if k.endswith("lm_head.weight")} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise UserError(
            f"{src}: its tensors do not match a {config.model_type} model "
            f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    model.tie_weights()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.resolve().parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the model from a server run as another user
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        config_file = tmp / "config.json"
        saved = json.loads(config_file.read_text())
        saved.pop("quantization_config", None)  # vLLM would look for a GGUF quantizer
        config_file.write_text(json.dumps(saved, indent=2) + "\n")
        if out.exists():
            out.rmdir()  # an empty folder, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Converted(
        source=str(src),
        out=str(out),
        architecture=config.model_type,
        parameters=sum(p.numel() for p in model.parameters()),
        dtype=dtype.value,
        size_bytes=sum(f.stat().st_size for f in out.iterdir()),
    )


def convert_command(
    out: Annotated[Path, typer.Argument(help="A new (or empty) folder for the Hugging Face model.")],
    llm: Annotated[
        str, typer.Option(help="'local' (the embedded SmolLM2 GGUF, the default) or a .gguf path.")
    ] = "local",
    dtype: Annotated[
        Dtype,
        typer.Option(help="Weights as saved: float32 (exact, the default), bfloat16 or float16 (half size)."),
    ] = Dtype.float32,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    """Turn a GGUF model into a plain Hugging Face folder for vLLM (`generate --backend vllm --llm OUT`)."""
    src = source_path(llm)
    check_out(out)
    done = convert(src, out, dtype)
    if as_json:
        print(json.dumps(asdict(done), indent=2))
        return
    print(
        f"wrote {out}: {done.architecture}, {done.parameters / 1e6:.1f}M parameters, {done.dtype}, "
        f"{done.size_bytes / 1e6:.0f} MB, from {src.name}; serve it with vLLM "
        f"(crossglg-text generate --backend vllm --llm {out})"
    )


def register(app: typer.Typer) -> None:
    """Attach ``convert-gguf`` to the ``crossglg-text`` app."""
    app.command("convert-gguf")(convert_command)
