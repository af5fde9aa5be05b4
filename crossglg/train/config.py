"""Training configuration: defaults (docs/TRAINING.md, "Configuration"), a TOML file, then CLI overrides.

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
from crossglg.inputs import read_input_text
from crossglg.outputs import write_whole
from crossglg.train.text_controls import TEXT_CONTROLS

AMP_CHOICES = ("auto", "bf16", "fp16", "off")
# the input pipeline's fields (crossglg.data.preprocess.PreprocessConfig) as this config spells them,
# where the names differ
PIPELINE_KEYS = {"min_crop": "crop_min_frames", "rotation": "aug_rotation", "scale": "aug_scale",
                 "shear": "aug_shear", "mirror": "aug_mirror", "speed": "aug_speed", "stream": "input_stream"}  # fmt: skip
# (low, high, low_open) per numeric field: low/high None = unbounded; every float must be finite.
# The upper bounds of counts sit far above any real run (the paper trains 110 epochs of batch 128
# on 64 frames) and below where a slip of a few digits would pass the dry run and then fail as an
# overflow or an allocation hours in (model-info's --frames and --persons stop at the same 100000 and 16).
_EPOCHS, _FRAMES, _MANY = 100_000, 100_000, 1_000_000  # _MANY: batch sizes, samples, classes, iterations
TRAIN_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "epochs": (1, _EPOCHS, False),
    "batch_size": (1, _MANY, False),
    "lr": (0, None, True),
    "momentum": (0, 1, False),
    "weight_decay": (0, None, False),
    "warmup_epochs": (0, _EPOCHS, False),
    "lr_gamma": (0, None, True),
    "text_lr_mult": (0, None, True),
    "grad_clip": (0, None, False),
    "aug_partmix": (0, 1, False),
    "frames": (1, _FRAMES, False),
    "persons": (0, 16, False),  # 0 = from the data
    "crop_min_frames": (1, _FRAMES, False),
    "holdout_classes": (0, _MANY, False),
    "holdout_fold": (0, _MANY, False),
    "swa_epochs": (0, _EPOCHS, False),
    "seed": (0, 2**63 - 1, False),
    "eval_every": (1, _EPOCHS, False),
    "eval_batch_size": (1, _MANY, False),
    "shots": (1, _MANY, False),
    "dc_beta": (0, None, True),
    "dc_k": (1, _MANY, False),
    "dc_alpha": (0, None, False),
    "dc_samples": (1, _MANY, False),
    "dc_max_iter": (1, _MANY, False),
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
    text_control: str = "none"  # "shuffled" / "uniform-kgt": controls for text guidance (text_controls.py)
    encoder: str = "infogcn"
    model: dict[str, Any] = field(default_factory=dict)  # passed to build_model as its cfg
    out: str = "runs/run"

    # optimisation: the official InfoGCN NTU recipe (docs/TRAINING.md, "Configuration")
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
    swa_epochs: int = 0  # > 0: the run's model is the mean of its last N end-of-epoch weights (averaging.py)

    # input: CTR-GCN feeder (docs/TRAINING.md, "Input pipeline and augmentation")
    frames: int = 64
    persons: int = 0  # person slots M; 0 = as many as the prepared data holds (1 on MSR, 2 on NTU)

    # input pipeline and augmentation (docs/TRAINING.md, "Input pipeline and augmentation");
    # the defaults are the CTR-GCN feeder's: crop ratio [0.5, 1] of at least 64 frames, ±0.3 rad
    crop_ratio: list[float] = field(default_factory=lambda: [0.5, 1.0])
    crop_min_frames: int = 64  # shortest training crop; CTR-GCN's 64 never crops a clip of <= 64 frames
    normalize_scale: bool = False  # divide by actor 1's mean bone length, as the DTW baseline does
    aug_rotation: float = 0.3  # largest random rotation about each axis, radians
    aug_scale: float = 0.0  # isotropic scale factor in [1 - s, 1 + s]
    aug_shear: float = 0.0  # shear entries in [-s, s]
    aug_mirror: float = 0.0  # probability of a left-right mirror (the layout's left_right pairs)
    aug_speed: float = 0.0  # time warp u -> u^g inside the crop, log g in [-s, s]
    input_stream: str = "joint"  # model input: joint coordinates, bone vectors or frame-to-frame motion
    # part mixing (partmix.py): the probability that a sample takes both arms or both legs from
    # another, and how its target is shared: by the classes' k_gt ("text") or joint count ("area")
    aug_partmix: float = 0.0
    partmix_labels: str = "text"

    # model selection on held-out auxiliary classes (protocols without validation classes: MSR);
    # fold f of the auxiliary class ids, sorted, cut into consecutive groups of holdout_classes
    holdout_classes: int = 0  # 0 = off; k >= 2 auxiliary classes become pseudo-novel validation classes
    holdout_fold: int = 0  # which group of k, 0-based
    evaluate_novel: bool = True  # false: a recipe-search run ends without touching the novel classes

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

    # one-shot evaluation (docs/TRAINING.md, "Read-outs")
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
        if not self.out:
            raise UserError("config: 'out' is empty; pass --out DIR (. for the current folder)")
        # checked here, not in check_values: a checkpoint from a GPU machine still evaluates on a CPU one
        if self.device:
            from crossglg.cli_support import checked_device

            checked_device(self.device, "config: device")
        if not self.no_text and not self.text_cache:
            raise UserError("config: pass --text-cache cache.db, or --no-text to train the base encoder")
        from crossglg.models.config import ModelConfig

        if self.no_text and ModelConfig.from_dict(self.model).loss.reads_text:
            raise UserError(
                "config: model.loss.text_relation / text_margin / align_text > 0 take their values from the "
                "text; drop --no-text and pass --text-cache, or set them to 0"
            )
        if self.aug_partmix > 0:
            self._check_partmix(ModelConfig.from_dict({**self.model, "use_text": not self.no_text}))

    def _check_partmix(self, model: Any) -> None:
        """Part mixing gives L_s a shared target; every other term reads one hard label per sample."""
        if self.no_text and self.partmix_labels == "text":
            raise UserError(
                "config: partmix_labels='text' shares the mixed target by the classes' k_gt; drop --no-text "
                'and pass --text-cache, or set partmix_labels="area"'
            )
        lc = model.loss
        hard = {"model.use_jid": model.jid_on, "model.use_l2g": model.l2g_on,
                "model.loss.w_supcon": lc.w_supcon > 0, "model.loss.w_align": lc.w_align > 0,
                "model.loss.text_relation / text_margin": lc.uses_text_similarity}  # fmt: skip
        on = [name for name, used in hard.items() if used]
        if on:
            raise UserError(
                f"config: aug_partmix > 0 cannot be combined with {', '.join(on)} (each reads one label per "
                "sample); turn them off, or set aug_partmix=0"
            )

    def check_values(self, where: str) -> None:
        """Types and ranges of every field, and the model table (a file or checkpoint can hold anything)."""
        from crossglg.fieldcheck import check_fields

        check_fields(self, where, TRAIN_RANGES)
        if self.text_control not in TEXT_CONTROLS:
            raise UserError(
                f"{where}: text_control={self.text_control!r}; choose one of {', '.join(TEXT_CONTROLS)}"
            )
        if self.amp not in AMP_CHOICES:
            raise UserError(f"{where}: amp={self.amp!r}; choose one of {', '.join(AMP_CHOICES)}")
        from crossglg.train.partmix import LABELS

        if self.partmix_labels not in LABELS:
            raise UserError(
                f"{where}: partmix_labels={self.partmix_labels!r}; choose one of {', '.join(LABELS)}"
            )
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in self.lr_steps):
            raise UserError(f"{where}: lr_steps must be a list of epochs >= 1, got {self.lr_steps!r}")
        if self.swa_epochs > self.epochs:
            raise UserError(
                f"{where}: swa_epochs={self.swa_epochs} averages more epochs than the run has ({self.epochs})"
            )
        if self.holdout_classes == 1:
            raise UserError(f"{where}: holdout_classes must be 0 (off) or >= 2, got 1")
        self.preprocess_config(self.persons or 1)  # range checks of the input pipeline keys
        from crossglg.models.config import ModelConfig

        channels = ModelConfig.from_dict(self.model).encoder.in_channels
        if "in_channels" in self.model.get("encoder", {}) and channels != self.input_channels:
            raise UserError(
                f"{where}: model.encoder.in_channels={channels} does not fit input_stream={self.input_stream!r} "
                f"({self.input_channels} channels); leave it out, the stream sets it"
            )

    @property
    def input_channels(self) -> int:
        """Channels the model's input has: three per part of ``input_stream``."""
        from crossglg.vocab.streams import stream_channels

        return stream_channels(self.input_stream)

    def preprocess_config(self, persons: int):
        """The input pipeline this configuration asks for (``persons`` resolved from the data); a
        setting out of range is named by its key here, not by the pipeline's own field name."""
        from crossglg.data.preprocess import PipelineError, PreprocessConfig

        if not (isinstance(self.crop_ratio, list | tuple) and len(self.crop_ratio) == 2):
            raise UserError(f"config: crop_ratio must be [low, high], got {self.crop_ratio!r}")
        try:
            return PreprocessConfig(
                frames=self.frames, persons=persons, crop_ratio=(float(self.crop_ratio[0]), float(self.crop_ratio[1])),
                min_crop=self.crop_min_frames, rotation=self.aug_rotation, normalize_scale=self.normalize_scale,
                scale=self.aug_scale, shear=self.aug_shear, mirror=self.aug_mirror, speed=self.aug_speed,
                stream=self.input_stream,
            )  # fmt: skip
        except PipelineError as err:
            raise UserError(f"config: {PIPELINE_KEYS.get(err.field, err.field)} {err.problem}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        import tomli_w

        write_whole(path, tomli_w.dumps(self.to_dict()), "config")


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
EXTENDS = "extends"  # the one key of a config file that is not a TrainConfig field


def shipped_configs() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def _builtin(path: Path | str) -> Path:
    """A config name without a file of that name means a shipped one (``cpu-small``)."""
    path = Path(path)
    if not path.exists() and (BUILTIN_DIR / f"{path.name}.toml").is_file():
        return BUILTIN_DIR / f"{path.name}.toml"
    return path


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, every other value replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_config_file(path: Path | str, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's table with its ``extends`` chain resolved (parent first, the file on top).

    ``extends = "cpu-small"`` names a shipped config or a file (relative to the extending file's
    folder); a recipe is a small set of overrides of another (docs/TRAINING.md, "Config files").
    Every failure is one line naming the file: not found, not TOML, an unknown key, an unknown
    parent, a cycle.
    """
    where = Path(path) if _chain else _builtin(path)
    try:
        table = tomllib.loads(read_input_text(where, "config file"))
    except FileNotFoundError:
        raise UserError(
            f"config file {where} not found (shipped configs: {', '.join(shipped_configs())})"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"config file {where}: unreadable ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"config file {where}: {err}") from None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in table:
        if key not in known and key != EXTENDS:
            raise UserError(f"config file {where}: unknown key {key!r}")
    parent = table.pop(EXTENDS, None)
    if parent is None:
        return table
    if not isinstance(parent, str) or not parent.strip():
        raise UserError(f"config file {where}: extends must be a config name or file, got {parent!r}")
    chain = (*_chain, where.resolve())
    target = where.parent / parent
    if not target.is_file():
        target = BUILTIN_DIR / f"{parent}.toml"
        if not target.is_file():
            raise UserError(
                f"config file {where}: extends {parent!r}, which is neither a file beside it nor a shipped "
                f"config ({', '.join(shipped_configs())})"
            )
    if target.resolve() in chain:
        cycle = " -> ".join(p.name for p in (*chain, target.resolve()))
        raise UserError(f"config file {where}: extends itself through {cycle}")
    return _merge(read_config_file(target, chain), table)


def load_config(path: Path | None, overrides: dict[str, Any], sets: list[str] = ()) -> TrainConfig:
    """Defaults ← TOML file (its ``extends`` chain first) ← ``--set key=value`` ← explicit CLI options.

    ``model.<key>`` in ``--set`` reaches into the model table. A key given both ways with two
    values is refused: the option used to win in silence, so ``--encoder infogcn --set
    encoder=stgcn`` trained InfoGCN under a label that said ST-GCN.
    """
    cfg = TrainConfig()
    by_set: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    if path is not None:
        for key, value in read_config_file(path).items():
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
            by_set[key] = _coerce(key, value, getattr(cfg, key))
            setattr(cfg, key, by_set[key])
        else:
            raise UserError(f"--set {key}: unknown config key")
    for key, value in overrides.items():
        if value is None:
            continue
        if key in by_set and by_set[key] != value:
            option = "--" + key.replace("_", "-")
            raise UserError(f"--set {key}={by_set[key]!r} and {option} {value!r} disagree; give {key} once")
        setattr(cfg, key, value)
    return cfg
