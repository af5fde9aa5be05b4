"""Training configuration: defaults from METHOD.md §10, a TOML file, then CLI overrides.

The resolved configuration is written into the run directory and into every checkpoint,
so a run can be re-evaluated or resumed without the command line that started it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from crossglg.errors import UserError

AMP_CHOICES = ("auto", "bf16", "fp16", "off")
# (low, high, low_open) per numeric field: low/high None = unbounded; every float must be finite
TRAIN_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "epochs": (1, None, False),
    "batch_size": (1, None, False),
    "lr": (0, None, True),
    "momentum": (0, 1, False),
    "weight_decay": (0, None, False),
    "warmup_epochs": (0, None, False),
    "lr_gamma": (0, None, True),
    "text_lr_mult": (0, None, True),
    "grad_clip": (0, None, False),
    "frames": (1, None, False),
    "persons": (1, None, False),
    "seed": (0, 2**63 - 1, False),
    "eval_every": (1, None, False),
    "eval_batch_size": (1, None, False),
    "shots": (1, None, False),
    "dc_beta": (0, None, True),
    "dc_k": (1, None, False),
    "dc_alpha": (0, None, False),
    "dc_samples": (1, None, False),
    "dc_max_iter": (1, None, False),
}


@dataclass
class TrainConfig:
    """Everything a run depends on. Field comments give the source of each default."""

    data: str = ""  # prepared data directory (crossglg data prepare / synth)
    protocol: str = ""  # one-shot protocol name or file
    text_cache: str = ""  # SQLite text cache; empty with no_text
    no_text: bool = False  # train the plain base encoder, same recipe
    embedder: str = ""  # text-bank embedder; empty = the only one in the cache
    parts: str = "parts6"  # local-text granularity: parts6, joints or a part file
    text_source: str = ""  # which LLM's texts when the cache holds several
    text_dataset: str = ""  # the texts' dataset in the cache; empty = the prepared data's name
    encoder: str = "infogcn"
    model: dict[str, Any] = field(default_factory=dict)  # passed to build_model as its cfg
    out: str = "runs/run"

    # optimisation: the official InfoGCN NTU recipe (METHOD.md §10)
    epochs: int = 110
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: int = 5
    lr_steps: list[int] = field(default_factory=lambda: [90, 100])
    lr_gamma: float = 0.1
    text_lr_mult: float = 0.03  # lr multiplier of the L2G module (optim.py); measured, docs/TRAINING.md
    grad_clip: float = 0.0  # max global gradient norm; 0 = off (InfoGCN does not clip)

    # input: CTR-GCN feeder (DATA.md §4)
    frames: int = 64
    persons: int = 2

    # runtime
    seed: int = 1
    deterministic: bool = False
    amp: str = "auto"  # auto = bf16 on CUDA, off on CPU
    compile: bool = False
    ddp_find_unused: bool = False  # DDP's find_unused_parameters, for model ablations that skip modules
    device: str = ""  # empty = cuda when available
    validation: bool = True  # hold the protocol's validation classes out for model selection
    eval_every: int = 1  # validation one-shot accuracy every n epochs (model selection)
    eval_batch_size: int = 256

    # one-shot evaluation (METHOD.md §9)
    shots: int = 1
    dc_beta: float = 0.5
    dc_k: int = 2
    dc_alpha: float = 0.21
    dc_samples: int = 750
    dc_max_iter: int = 1000

    def validate(self) -> None:
        """Everything checkable before any work starts: a bad value fails here, never after training."""
        self.check_values("config")
        if not self.data:
            raise UserError("config: 'data' is empty; pass --data DIR (a prepared data directory)")
        if not self.protocol:
            raise UserError("config: 'protocol' is empty; pass --protocol NAME")
        if not self.no_text and not self.text_cache:
            raise UserError("config: pass --text-cache cache.db, or --no-text to train the base encoder")

    def check_values(self, where: str) -> None:
        """Types and ranges of every field, and the model table (a file or checkpoint can hold anything)."""
        from crossglg.fieldcheck import check_fields

        check_fields(self, where, TRAIN_RANGES)
        if self.amp not in AMP_CHOICES:
            raise UserError(f"{where}: amp={self.amp!r}; choose one of {', '.join(AMP_CHOICES)}")
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in self.lr_steps):
            raise UserError(f"{where}: lr_steps must be a list of epochs >= 1, got {self.lr_steps!r}")
        from crossglg.models.config import ModelConfig

        ModelConfig.from_dict(self.model)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        import tomli_w

        path.write_text(tomli_w.dumps(self.to_dict()))


def _coerce(name: str, value: Any, current: Any) -> Any:
    """Parse a ``--set`` string into the type of the field it overrides."""
    if not isinstance(value, str) or isinstance(current, str):
        return value
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        raise UserError(f"--set {name}={value}: not a TOML value (quote strings, e.g. '\"x\"')") from None
    return parsed


BUILTIN_DIR = Path(__file__).parent / "configs"


def _builtin(path: Path | str) -> Path:
    """A config name without a file of that name means a shipped one (``cpu-small``)."""
    path = Path(path)
    if not path.exists() and (BUILTIN_DIR / f"{path.name}.toml").is_file():
        return BUILTIN_DIR / f"{path.name}.toml"
    return path


def load_config(path: Path | None, overrides: dict[str, Any], sets: list[str] = ()) -> TrainConfig:
    """Defaults ← TOML file ← ``--set key=value`` ← explicit CLI options (highest wins).

    ``model.<key>`` in ``--set`` reaches into the model table.
    """
    cfg = TrainConfig()
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    if path is not None:
        path = _builtin(path)
        try:
            table = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            shipped = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.toml")))
            raise UserError(f"config file {path} not found (shipped configs: {shipped})") from None
        except tomllib.TOMLDecodeError as err:
            raise UserError(f"config file {path}: {err}") from None
        for key, value in table.items():
            if key not in known:
                raise UserError(f"config file {path}: unknown key {key!r}")
            setattr(cfg, key, value)
    for item in sets:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        if key.startswith("model."):
            *path, leaf = key.split(".")[1:]
            table = cfg.model
            for part in path:
                table = table.setdefault(part, {})
            table[leaf] = _coerce(key, value, 0)
        elif key in known:
            setattr(cfg, key, _coerce(key, value, getattr(cfg, key)))
        else:
            raise UserError(f"--set {key}: unknown config key")
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    return cfg
