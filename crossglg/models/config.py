"""Model configuration: every choice the paper leaves to us is a field here.

The comments give each default's source marker ([ref], [secondary], [default]: docs/MODELS.md), so an ablation
is a config change, never a code change. ``ModelConfig.from_dict`` reads the ``[model]`` table
of a training TOML (nested tables ``encoder``, ``jid``, ``l2g``, ``loss``) and rejects unknown
keys with a :class:`UserError`, because a misspelt key silently falling back to a default
would waste a training run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from crossglg.errors import UserError

REWEIGHT_FORMS = ("scale", "residual", "bounded")
ATTENTION_FORMS = ("pooled", "frame")
_POSITIVE, _NON_NEGATIVE, _SHARE = (1, None, False), (0, None, False), (0, 0.999, False)
# Upper bounds of the sizes a user types (model-info's options, --set model.*): far above any real
# model (NTU-120 has 120 classes, text embedders stop near 4096 dimensions, the JID uses 4), low
# enough that the largest layer they make still fits in memory, so a slip of a few digits is one
# line naming the key, not an allocator's message about petabytes.
MAX_CLASSES = 100_000
MAX_TEXT_DIM = 65_536
MAX_HIDDEN_MULT = 256
# (low, high, low_open) of the numeric fields of each section (crossglg.fieldcheck)
SECTION_RANGES = {
    "encoder": {
        "in_channels": _POSITIVE, "num_person": _POSITIVE, "base_channels": _POSITIVE, "dropout": _SHARE,
        "temporal_kernel": _POSITIVE, "depth": _POSITIVE, "rel_k": _POSITIVE, "z_prior_gain": (0, None, True),
        "lambda1": _NON_NEGATIVE, "lambda2": _NON_NEGATIVE, "head_scale": (0, None, True),
    },
    "jid": {"n_pre": _POSITIVE, "hidden_mult": (1, MAX_HIDDEN_MULT, False), "target_smoothing": (0, 1, False),
            "floor": _NON_NEGATIVE, "strength": _NON_NEGATIVE},
    "l2g": {"text_dim": (1, MAX_TEXT_DIM, False), "dim": _POSITIVE, "heads": _POSITIVE, "layers": _POSITIVE,
            "mlp_ratio": _POSITIVE, "dropout": _SHARE},
    "loss": {"w_s": _NON_NEGATIVE, "w_cal": _NON_NEGATIVE, "w_c": _NON_NEGATIVE, "label_smoothing": _SHARE,
             "w_supcon": _NON_NEGATIVE, "supcon_temperature": (0, None, True),
             "w_align": _NON_NEGATIVE, "align_temperature": (0, None, True), "align_gamma": (0, None, True),
             "align_text": (0, 1, False), "text_relation": _SHARE, "text_relation_temperature": (0, None, True),
             "text_margin": _NON_NEGATIVE, "w_recon": _NON_NEGATIVE},
}  # fmt: skip
HEAD_FORMS = ("linear", "cosine")
L2G_FORMS = ("text-residual", "gather")
HEAD_INPUTS = ("raw", "l2", "layernorm")


@dataclass
class EncoderConfig:
    """Backbone settings; ``None`` means the encoder's own published default."""

    in_channels: int = 3  # xyz
    num_person: int = 2  # M; the input BatchNorm is sized by it [ref]
    base_channels: int = 64  # 64/128/256 stages [ref]
    dropout: float = 0.0  # before the classifier; InfoGCN and CTR-GCN NTU configs use 0 [ref]
    temporal_kernel: int | None = None  # InfoGCN/CTR-GCN 5 (multi-scale), ST-GCN 9 [ref]
    # keep only the first N blocks (InfoGCN 9, ST-GCN and CTR-GCN 10 [ref]); the embedding is the
    # last kept block's width. docs/MODELS.md, "Encoders"
    depth: int | None = None
    # InfoGCN only
    rel_k: int = 1  # joint embedding x <- (I - A^k) x, k = 1 in the NTU configs [ref]
    info_bottleneck: bool = True  # InfoGCN's IB head (fc_mu, fc_logvar, sampled latent) [ref]
    z_prior_gain: float = 3.0  # orthogonal class prior gain [ref]
    lambda1: float = 1e-4  # weight of ||mean z||_2 [ref]
    lambda2: float = 0.1  # weight of the MMD to the class prior [ref]
    attention: str = "pooled"  # SA-GC attention per sample ("pooled") or per frame ("frame", the reference)
    # ST-GCN only
    edge_importance: bool = True  # learnable edge-importance masks [ref]
    # the plain classifier head (docs/TRAINING.md, "Training objective"): "linear" [ref], or
    # "cosine" = head_scale · cos(z, w_k); InfoGCN's bottleneck head is a third, info_bottleneck
    head: str = "linear"
    head_scale: float = 16.0
    # leave empty person slots out of the global pooling (docs/MODELS.md, "Persons"); false averages
    # them in, as the reference encoders do
    mask_empty_persons: bool = True


@dataclass
class JIDConfig:
    """Joint Importance Discriminator (docs/MODELS.md, "Where CrossGLG attaches")."""

    n_pre: int | None = (
        None  # block after which the JID sits; None = 5 InfoGCN, 6 ST/CTR-GCN [secondary]/[default]
    )
    hidden_mult: int = (
        4  # H = 4·C (512 at C = 128, +67k); the paper's "+0.1M" read as 8 gives +133k: docs/MODELS.md
    )
    # "scale": w = V*k_out [default]; "residual": w = 1 + V*k_out; "bounded": w = max(floor,
    # 1 + strength*(V*k_out - 1)), so no joint is scaled towards 0 (docs/MODELS.md, "Corrections")
    reweight: str = "scale"
    strength: float = 0.5  # "bounded" only: 1 = the scale form's deviation from 1, 0 = no re-weighting
    floor: float = 0.5  # "bounded" only: the smallest weight any joint gets
    # k_gt <- (1 - eps)*k_gt + eps/V in L_cal; the paper leaves eps = 0 (docs/MODELS.md, "Corrections"); 1 = uniform target
    target_smoothing: float = 0.0
    # re-weight with k_out detached, so only L_cal trains the JID. the paper's default is False,
    # but then L_s drives the softmax onto one joint within ~10 SGD steps and k_out stops
    # following the text (docs/MODELS.md, "JID gradients")
    detach: bool = True


@dataclass
class L2GConfig:
    """Local-to-global interaction module (docs/MODELS.md, "Where CrossGLG attaches")."""

    text_dim: int = 384  # width of the cached local-text vectors (MiniLM 384; DeBERTa-V2-XL 1536)
    parts: tuple[str, ...] | str = "parts6"  # text tokens: "parts6", "joints" or part/joint names
    dim: int = 256  # D [default]
    heads: int = 8  # [default]
    layers: int = 2  # M [default]
    mlp_ratio: int = 4  # GELU MLP hidden = 4 D [default]
    dropout: float = 0.1  # [default]
    # "text-residual": the paper as written (U = T' + A: the label-chosen text survives into
    # z_c); "gather": z_c holds only the skeleton tokens the text queries gathered, scored
    # against every class's text (no label shortcut; docs/MODELS.md, "Corrections")
    form: str = "text-residual"


@dataclass
class LossConfig:
    """L = w_s L_s + w_cal L_cal + w_c L_c (+ the encoder's own terms), docs/TRAINING.md, "Training objective"."""

    w_s: float = 1.0  # [secondary]
    w_cal: float = 0.5  # [secondary]
    w_c: float = 0.2  # [secondary]
    label_smoothing: float = 0.1  # on L_s and L_c [default, from InfoGCN]
    # supervised-contrastive term on the unit-length z_s of each batch (Khosla et al., NeurIPS 2020);
    # 0 = off, as in the paper. docs/TRAINING.md, "Training objective"
    w_supcon: float = 0.0
    supcon_temperature: float = 0.1
    # the same term with soft-DTW alignment of the per-joint last-block features as the
    # similarity (what the jfdtw read-out matches); 0 = off. docs/TRAINING.md, "Training objective"
    w_align: float = 0.0
    align_temperature: float = 0.1
    align_gamma: float = 0.1  # soft-minimum temperature of the soft-DTW
    # share of each joint's weight in that term's frame cost that follows the anchor class's k_gt
    # (w = 1 - a + a·V·k_gt): 0 = every joint alike. Needs text (docs/MODELS.md, "Text-weighted alignment")
    align_text: float = 0.0
    # text-relation targets for L_s: this share of each sample's target goes to the other training
    # classes by how alike their global texts are (softmax of cosine / temperature), in place of
    # uniform label smoothing; 0 = off. Needs text (docs/MODELS.md, "Text-relation targets")
    text_relation: float = 0.0
    text_relation_temperature: float = 0.05
    # text-scaled margins on L_s: every other class's logit is raised by this times the cosine of
    # its global text and the label's while training, so classes described alike must be held
    # further apart; 0 = off. Needs text (docs/MODELS.md, "Text-relation targets")
    text_margin: float = 0.0
    # the input joints read back from the per-joint last-block features by one linear map (the
    # error as a share of the input's variance), so the features keep every joint's position,
    # the legs too when the training classes move only arms; 0 = off. docs/MODELS.md, "Classifier heads"
    w_recon: float = 0.0

    @property
    def uses_text_similarity(self) -> bool:
        return self.text_relation > 0 or self.text_margin > 0

    @property
    def reads_text(self) -> bool:
        """Whether a loss term takes its values from the class text (so --no-text cannot run it)."""
        return self.uses_text_similarity or self.align_text > 0


@dataclass
class ModelConfig:
    """What ``build_model`` builds.

    ``use_text=False`` gives the plain base encoder (no JID, no L2G) for ``--no-text``
    comparisons with the same recipe; ``use_jid`` / ``use_l2g`` switch the two CrossGLG
    halves separately for the G2L / L2G ablation (the paper's Table D).
    """

    use_text: bool = True
    use_jid: bool = True
    use_l2g: bool = True
    # what the shared classifier sees of z_s and z_c: "raw" [default], "l2" (L2-normalised, times
    # sqrt(D)) or "layernorm" (no parameters); one-shot evaluation always uses the raw z_s
    head_input: str = "raw"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    jid: JIDConfig = field(default_factory=JIDConfig)
    l2g: L2GConfig = field(default_factory=L2GConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    @property
    def jid_on(self) -> bool:
        return self.use_text and self.use_jid

    @property
    def l2g_on(self) -> bool:
        return self.use_text and self.use_l2g

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints and run directories (round-trips through ``from_dict``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ModelConfig:
        data = dict(data or {})
        sections = {"encoder": EncoderConfig, "jid": JIDConfig, "l2g": L2GConfig, "loss": LossConfig}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in sections:
                if not isinstance(value, dict):
                    raise UserError(f"model config: [{key}] must be a table, got {value!r}")
                kwargs[key] = _section(sections[key], key, value)
            elif key in ("use_text", "use_jid", "use_l2g"):
                # bool("false") is True: a quoted value in a config file or --set used to switch the
                # JID or L2G on while the user meant to switch it off
                if not isinstance(value, bool):
                    raise UserError(f"model config: {key}={value!r} is not bool (true or false, unquoted)")
                kwargs[key] = value
            elif key == "head_input":
                if not isinstance(value, str):
                    raise UserError(f"model config: head_input={value!r} is not str")
                kwargs[key] = value
            else:
                raise UserError(f"model config: unknown key {key!r}; known: {', '.join(_names(cls))}")
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        from crossglg.fieldcheck import check_fields

        for name, ranges in SECTION_RANGES.items():
            check_fields(getattr(self, name), "model config", ranges, prefix=f"{name}.")
        _check_choice("jid.reweight", self.jid.reweight, REWEIGHT_FORMS)
        _check_choice("encoder.attention", self.encoder.attention, ATTENTION_FORMS)
        _check_choice("encoder.head", self.encoder.head, HEAD_FORMS)
        _check_choice("l2g.form", self.l2g.form, L2G_FORMS)
        _check_choice("head_input", self.head_input, HEAD_INPUTS)
        kernel = self.encoder.temporal_kernel
        if kernel is not None and kernel % 2 == 0:
            # every encoder pads (k - 1) // 2 frames on each side: an even kernel shortens each block's
            # output by one frame and the residual sum fails at the first batch, after the run started
            raise UserError(f"model config: encoder.temporal_kernel must be odd, got {kernel}")
        if self.l2g.dim % self.l2g.heads:
            raise UserError(
                f"model config: l2g.dim={self.l2g.dim} is not divisible by l2g.heads={self.l2g.heads}"
            )
        if self.jid.hidden_mult < 1:
            raise UserError("model config: jid.hidden_mult must be >= 1")
        if self.l2g.layers < 1 or self.l2g.text_dim < 1:
            raise UserError("model config: l2g.layers and l2g.text_dim must be >= 1")
        if self.loss.align_text > 0 and self.loss.w_align == 0:
            raise UserError(
                "model config: loss.align_text weights the aligned term; set loss.w_align > 0 too"
            )


def _check_choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise UserError(f"model config: {key}={value!r}; choose {' or '.join(options)}")


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _section(cls: type, name: str, values: dict[str, Any]) -> Any:
    unknown = sorted(set(values) - set(_names(cls)))
    if unknown:
        raise UserError(f"model config: unknown key {name}.{unknown[0]}; known: {', '.join(_names(cls))}")
    values = dict(values)
    if isinstance(values.get("parts"), list):
        values["parts"] = tuple(values["parts"])
    return cls(**values)
