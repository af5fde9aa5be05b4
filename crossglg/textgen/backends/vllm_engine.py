"""What the in-process vLLM backend hands to vLLM, worked out without importing vLLM.

The engine's constructor arguments, the sampling parameters of each request, the weights'
revision and whether the weights are on this machine are all decided here, so that they are
tested on machines without a GPU or vllm (docs/TEXTGEN.md, "vLLM in-process"); only
:mod:`crossglg.textgen.backends.vllm_offline` imports vllm, and only to run.

The revision: ``--revision`` goes into the cache key as the commit it resolves to in the
local Hugging Face cache (a branch such as ``main`` moves; a commit does not), or as given
when it is not cached yet. Without ``--revision`` the key is what it always was (no
revision), and the commit of the snapshot in use is only recorded with each request.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossglg.errors import UserError
from crossglg.textgen.backends.base import ChatRequest

_COMMIT = re.compile(r"[0-9a-f]{40}")
_OFF = ("0", "false", "no", "off")


@dataclass(frozen=True)
class EngineOptions:
    """The ``generate`` options that only the in-process vLLM engine reads (None: vLLM's default)."""

    tensor_parallel_size: int | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    revision: str | None = None
    allow_download: bool = False

    def given(self) -> list[str]:
        """The options set on the command line, as they are spelt there."""
        flags = {
            "--tensor-parallel-size": self.tensor_parallel_size,
            "--max-model-len": self.max_model_len,
            "--gpu-memory-utilization": self.gpu_memory_utilization,
            "--revision": self.revision,
            "--allow-download": self.allow_download or None,
        }
        return [flag for flag, value in flags.items() if value is not None]


def hf_hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded models, by its documented variables.

    Read from the environment rather than ``huggingface_hub.constants`` so that planning
    imports nothing that freezes ``HF_HUB_OFFLINE`` before ``--allow-download`` can lift it.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def is_local_dir(model: str) -> bool:
    """``--llm`` names a folder (vLLM loads it as is) rather than a Hugging Face id."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().is_dir()


def model_cache_dir(model: str) -> Path:
    """The hub cache folder of a Hugging Face model id (``org/name`` → ``models--org--name``)."""
    return hf_hub_cache() / ("models--" + model.replace("/", "--"))


def snapshot_commit(model: str, revision: str | None = None) -> str | None:
    """The commit of the weights ``model`` at ``revision`` names on this machine, when it can be read.

    A folder inside a hub cache (``…/snapshots/<commit>``) is that commit; a model id is
    looked up in the local hub cache (``refs/<revision>``, ``main`` by default); a 40-digit
    revision is its own commit. None when nothing says (a plain folder, a model not cached).
    """
    if is_local_dir(model):
        folder = Path(model).expanduser().resolve()
        return folder.name if folder.parent.name == "snapshots" and _COMMIT.fullmatch(folder.name) else None
    if revision is not None and _COMMIT.fullmatch(revision):
        return revision
    ref = model_cache_dir(model) / "refs" / (revision or "main")
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return commit if _COMMIT.fullmatch(commit) else None


def key_revision(model: str, revision: str | None) -> str:
    """The revision in the cache key: '' without ``--revision`` (keys of earlier runs stay valid)."""
    if revision is None:
        return ""
    return snapshot_commit(model, revision) or revision


def downloads_allowed(options: EngineOptions) -> bool:
    """``--allow-download``, or ``HF_HUB_OFFLINE=0`` set by the user (crossglg sets 1 otherwise)."""
    return options.allow_download or os.environ.get("HF_HUB_OFFLINE", "").lower() in _OFF


def check_weights(model: str, options: EngineOptions) -> None:
    """Refuse, before the engine starts, weights that are not on this machine and may not be fetched."""
    if is_local_dir(model):
        if not Path(model).expanduser().is_dir():
            raise UserError(f"--llm {model}: no such model folder")
        return
    if downloads_allowed(options):
        return
    commit = snapshot_commit(model, options.revision)
    if commit is None or not (model_cache_dir(model) / "snapshots" / commit).is_dir():
        at = f" at revision {options.revision}" if options.revision else ""
        raise UserError(
            f"--llm {model}{at} is not in the local Hugging Face cache ({hf_hub_cache()}) and crossglg does "
            f"not download weights unless asked: pass --allow-download, or fetch it first with "
            f"`huggingface-cli download {model}`"
        )


def allow_downloads() -> None:
    """Lift crossglg's offline default (``HF_HUB_OFFLINE=1``) for the engine about to load.

    huggingface_hub reads the variable once, when it is imported; if something imported it
    already, its constant is lifted too, or the engine would still refuse to download.
    """
    import sys

    os.environ["HF_HUB_OFFLINE"] = "0"
    os.environ["TRANSFORMERS_OFFLINE"] = "0"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = False


def llm_kwargs(model: str, options: EngineOptions, revision: str = "") -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM(...)``; options left unset keep vLLM's defaults.

    ``revision`` is the one in the key (a resolved commit), so the engine loads exactly the
    weights the answers will be filed under.
    """
    kwargs: dict[str, Any] = {"model": model}
    if revision:
        kwargs["revision"] = revision
    if options.tensor_parallel_size is not None:
        kwargs["tensor_parallel_size"] = options.tensor_parallel_size
    if options.max_model_len is not None:
        kwargs["max_model_len"] = options.max_model_len
    if options.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = options.gpu_memory_utilization
    return kwargs


def sampling_kwargs(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one request, but its structured output.

    The answer's JSON schema goes in ``StructuredOutputsParams(json=request.schema)``; the
    seed is always set: vLLM's V1 engine defaults to seed 0, which makes every sample of a
    prompt the same answer.
    """
    return {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
    }
