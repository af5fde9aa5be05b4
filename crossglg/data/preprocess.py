"""Batched preprocessing: from variable-length skeletons to the model input [N, 3, T, V, M].

Every step (centring, scale and view normalisation, crop + resize along time with an
optional speed change, person padding, left-right mirroring, random scaling, shear and
rotation) is one tensor operation over the whole batch, on whatever device the data sits
on, so a GPU trainer never waits for a per-sample Python loop (docs/TRAINING.md, "Input
pipeline and augmentation"). The few random numbers per sample are
drawn from the caller's ``torch.Generator`` and used on the data's device, so a CPU generator
with a given seed gives the same augmentation whether the data sits on the CPU or the GPU.
An augmentation that is off draws nothing, so switching one on never changes the draws of
the others that came before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from crossglg.errors import UserError
from crossglg.vocab.layouts import Layout, get_layout
from crossglg.vocab.streams import StreamError, stream_parts

# NTU-25 joints (0-based) that view normalisation and centring are defined on (docs/SYNTHETIC.md, "Feeding a model: batched preprocessing")
_NTU_SPINE_BASE, _NTU_SPINE_MID, _NTU_LEFT_SHOULDER, _NTU_RIGHT_SHOULDER = 0, 1, 4, 8


@dataclass(frozen=True)
class PreprocessConfig:
    """What the feeder does; the defaults are CTR-GCN's (docs/TRAINING.md, "Input pipeline and augmentation"), every addition off.

    ``crop_ratio`` bounds the random crop used in training, ``test_ratio`` is the central
    share kept at test time, ``min_crop`` the shortest training crop (never longer than the
    sample: CTR-GCN's 64 means no crop at all on clips of 64 frames or fewer, i.e. on almost
    all of MSR Action3D), ``rotation`` the largest random rotation angle in radians about
    each axis (0 disables it).

    ``normalize_scale`` divides each sample by actor 1's mean bone length, the body-size
    normalisation the DTW baseline uses (:meth:`Layout.bone_lengths`), at training and test
    time alike. The training-only augmentations: ``scale`` draws an isotropic factor in
    [1 - scale, 1 + scale]; ``shear`` draws the six off-diagonal entries of a shear matrix
    in [-shear, shear]; ``mirror`` is the probability of a left-right mirror (negate x,
    swap the layout's ``left_right`` joint pairs, persons kept); ``speed`` warps time inside
    the crop by u → u^γ with log γ uniform in [-speed, speed], so the action speeds up or
    slows down along the clip (a crop alone only changes the overall rate).

    ``stream`` is what the model is fed, after every step above: ``joint`` the coordinates,
    ``bone`` each joint minus its parent (:attr:`Layout.parents`; the centre's vector is 0),
    ``motion`` each frame minus the one before it (the first frame's is 0). Models fed different
    streams err differently, which is what an ensemble of them needs (docs/TRAINING.md, "Input
    streams"); ``joint+bone+motion`` (any parts joined by ``+``) feeds one model all of them at
    once, three channels each (:func:`stream_parts`).
    """

    frames: int = 64
    persons: int = 2
    center: bool = True
    normalize_view: bool = False
    crop_ratio: tuple[float, float] = (0.5, 1.0)
    test_ratio: float = 0.95
    min_crop: int = 64
    rotation: float = 0.3
    normalize_scale: bool = False
    scale: float = 0.0
    shear: float = 0.0
    mirror: float = 0.0
    speed: float = 0.0
    stream: str = "joint"

    def __post_init__(self) -> None:
        lo, hi = self.crop_ratio
        if not 0 < lo <= hi <= 1:
            raise PipelineError("crop_ratio", f"must satisfy 0 < low <= high <= 1, got {self.crop_ratio}")
        if not 0 < self.test_ratio <= 1:
            raise PipelineError("test_ratio", f"must be in (0, 1], got {self.test_ratio}")
        for name in ("frames", "persons", "min_crop"):
            if getattr(self, name) < 1:
                raise PipelineError(name, f"must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.scale < 1:
            raise PipelineError("scale", f"must be in [0, 1), got {self.scale}")
        if not 0 <= self.mirror <= 1:
            raise PipelineError("mirror", f"is a probability in [0, 1], got {self.mirror}")
        try:
            stream_parts(self.stream)
        except StreamError as err:
            raise PipelineError("stream", err.problem) from None
        for name in ("rotation", "shear", "speed"):
            if getattr(self, name) < 0:
                raise PipelineError(name, f"must be >= 0, got {getattr(self, name)}")


class PipelineError(UserError):
    """A pipeline setting out of range. ``field`` is kept apart from the problem so that a caller
    whose users spell the setting otherwise (the training config's ``aug_*`` and ``input_stream``
    keys) can name it in their terms."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"preprocess: {field} {problem}")
        self.field, self.problem = field, problem


class Batch(NamedTuple):
    """Model input ``x`` [N, 3, T, V, M] and which person slots hold someone, [N, M] bool."""

    x: torch.Tensor
    person_mask: torch.Tensor


class Padded(NamedTuple):
    """A batch padded to its longest sample: ``data`` [N, T_max, M, V, 3], ``lengths`` [N] long."""

    data: torch.Tensor
    lengths: torch.Tensor


def pad_sequences(sequences: Sequence[np.ndarray], device: torch.device | str | None = None) -> Padded:
    """Stack variable-length [T_i, M_i, V, 3] arrays into one zero-padded tensor.

    One host-side copy into a preallocated buffer and one transfer: the only per-sample
    work in the pipeline.
    """
    if not sequences:
        raise UserError("preprocess: empty batch")
    shapes = [np.shape(s) for s in sequences]
    for i, shape in enumerate(shapes):
        if len(shape) != 4 or shape[-1] != 3 or shape[0] < 1:
            raise UserError(f"preprocess: sample {i} has shape {shape}, expected [T>=1, M, V, 3]")
    v = shapes[0][2]
    if any(s[2] != v for s in shapes):
        raise UserError(f"preprocess: samples disagree on the joint count: {sorted({s[2] for s in shapes})}")
    t_max = max(s[0] for s in shapes)
    m_max = max(s[1] for s in shapes)
    buf = np.zeros((len(sequences), t_max, m_max, v, 3), dtype=np.float32)
    for i, seq in enumerate(sequences):
        buf[i, : seq.shape[0], : seq.shape[1]] = seq
    lengths = torch.tensor([s[0] for s in shapes], dtype=torch.long)
    data = torch.from_numpy(buf)
    if device is not None:
        data, lengths = data.to(device), lengths.to(device)
    return Padded(data, lengths)


def _ntu_joint(layout: Layout, ntu_joint: int, fallback: int) -> int:
    """This layout's joint standing for an NTU joint; ``fallback`` where it has none (COCO-17)."""
    for j, n in enumerate(layout.ntu_index):
        if n == ntu_joint:
            return j
    return fallback


def _present(x: torch.Tensor) -> torch.Tensor:
    """Whether each body [..., V, 3] has a non-zero joint (a sum of |x|: several times faster than any())."""
    return x.flatten(-2).abs().sum(dim=-1) > 0


def _first_frames(actor: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """First valid frame in which each sample's actor [N, T, V, 3] is non-zero (0 if never).

    Nearly every sample starts with its actor present, so only the others are scanned.
    """
    n, t = actor.shape[:2]
    first = torch.zeros(n, dtype=torch.long, device=actor.device)
    late = torch.nonzero(~_present(actor[:, :1])[:, 0]).squeeze(1)
    if late.numel():
        valid = torch.arange(t, device=actor.device)[None] < lengths[late, None]
        present = _present(actor[late]) & valid
        idx = torch.arange(t, device=actor.device).expand_as(present)
        first[late] = torch.where(present, idx, torch.full_like(idx, t)).amin(dim=1) % t
    return first


def _frame_of(x: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """x [N, T, ...] at one frame per sample → [N, ...]."""
    return x[torch.arange(x.shape[0], device=x.device), frame]


def view_rotation(first: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Rotation [N, 3, 3] taking actor 1's spine to +z and its shoulders (right → left) to +x.

    Same target as pyskl's PreNormalize3D, built as one orthonormal frame instead of two
    axis-angle steps; a degenerate frame (missing joints) gives the identity.
    """
    base = _ntu_joint(layout, _NTU_SPINE_BASE, layout.center)
    mid = _ntu_joint(layout, _NTU_SPINE_MID, layout.center)
    left = _ntu_joint(layout, _NTU_LEFT_SHOULDER, layout.center)
    right = _ntu_joint(layout, _NTU_RIGHT_SHOULDER, layout.center)
    spine = first[:, mid] - first[:, base]
    shoulders = first[:, left] - first[:, right]
    z = spine / spine.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    x = shoulders - (shoulders * z).sum(-1, keepdim=True) * z
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    y = torch.cross(z, x, dim=-1)
    rot = torch.stack([x, y, z], dim=1)
    ok = (spine.norm(dim=-1) > 1e-6) & (x.norm(dim=-1) > 0.5)
    eye = torch.eye(3, dtype=first.dtype, device=first.device).expand_as(rot)
    return torch.where(ok[:, None, None], rot, eye)


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) float64 on the CPU, drawn on the generator's own device (a CUDA generator works too)."""
    device = generator.device if generator is not None else "cpu"
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=device).cpu()


def _crop_windows(
    lengths: torch.Tensor, cfg: PreprocessConfig, train: bool, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and length of each sample's temporal window (CTR-GCN's valid_crop_resize)."""
    lengths = lengths.cpu()
    n = lengths.shape[0]
    if train:
        lo, hi = cfg.crop_ratio
        p = lo + (hi - lo) * _uniform((n,), generator)
        crop = torch.floor(lengths * p).long().clamp(min=cfg.min_crop)
        crop = torch.minimum(crop, lengths).clamp(min=1)
        start = torch.floor(_uniform((n,), generator) * (lengths - crop + 1)).long()
        start = torch.minimum(start, lengths - crop)
    else:
        bias = torch.floor((1 - cfg.test_ratio) * lengths.double() / 2).long()
        crop = (lengths - 2 * bias).clamp(min=1)
        start = bias
    return start, crop


def _window_frames(
    start: torch.Tensor,
    crop: torch.Tensor,
    frames: int,
    device: torch.device,
    warp: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source frames (i0, i1) and weights w of a linear resize of [start, start+crop) to ``frames``.

    The same sampling as ``F.interpolate(mode="linear", align_corners=False)`` on each
    cropped window (CTR-GCN's bilinear resize along time): out[f] = (1-w)·x[i0] + w·x[i1].
    ``warp`` [N] (γ, the speed change) moves each output frame's relative position u in
    the window to u^γ: monotone, so time order is kept, and 1 gives the plain resize.
    """
    start, crop = start.to(device), crop.to(device)
    t = torch.arange(frames, device=device, dtype=torch.float64)
    u = (t[None] + 0.5) / frames
    if warp is not None:
        u = u ** warp.to(device)[:, None]
    src = (u * crop.double()[:, None] - 0.5).clamp(min=0)
    i0 = torch.minimum(torch.floor(src).long(), (crop - 1)[:, None])
    i1 = torch.minimum(i0 + 1, (crop - 1)[:, None])
    return start[:, None] + i0, start[:, None] + i1, src - i0.double()


def _gather_frames(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [N, T, ...] at frames idx [N, F] → [N, F, ...], as one index_select."""
    n, t = x.shape[:2]
    flat = x.reshape(n * t, -1)
    rows = (idx + torch.arange(n, device=x.device)[:, None] * t).reshape(-1)
    return flat.index_select(0, rows).view(n, idx.shape[1], *x.shape[2:])


def _random_rotation(n: int, max_angle: float, generator: torch.Generator | None) -> torch.Tensor:
    """Per-sample Rz·Ry·Rx with angles uniform in [-max_angle, max_angle] (CTR-GCN random_rot)."""
    ang = (_uniform((n, 3), generator) * 2 - 1) * max_angle
    c, s = ang.cos(), ang.sin()
    one, zero = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    rx = torch.stack([one, zero, zero, zero, c[:, 0], s[:, 0], zero, -s[:, 0], c[:, 0]], 1).view(n, 3, 3)
    ry = torch.stack([c[:, 1], zero, -s[:, 1], zero, one, zero, s[:, 1], zero, c[:, 1]], 1).view(n, 3, 3)
    rz = torch.stack([c[:, 2], s[:, 2], zero, -s[:, 2], c[:, 2], zero, zero, zero, one], 1).view(n, 3, 3)
    return rz @ ry @ rx


def _scale_shear(n: int, cfg: PreprocessConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Per-sample f·S [N, 3, 3]: isotropic factor f in [1 - scale, 1 + scale], shear S with unit diagonal."""
    out = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
    if cfg.shear > 0:
        off = (_uniform((n, 3, 3), generator) * 2 - 1) * cfg.shear
        out = out + off * (1 - torch.eye(3, dtype=torch.float64))
    if cfg.scale > 0:
        out = out * (1 + (_uniform((n,), generator) * 2 - 1) * cfg.scale)[:, None, None]
    return out


def _mirror(
    x: torch.Tensor, n: int, cfg: PreprocessConfig, lay: Layout, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Swap the layout's left/right joints of the samples drawn for a mirror; their x-flip [N, 3, 3].

    The coordinate flip is returned as a matrix so that it joins the other linear steps in
    one pass, after the view normalisation (where x is the body's left-right axis).
    """
    if cfg.mirror <= 0 or not lay.left_right:
        return x, None
    flip = (_uniform((n,), generator) < cfg.mirror).to(x.device)
    perm = torch.tensor(lay.mirror_order)
    x = torch.where(flip[:, None, None, None, None], x[:, :, :, perm.to(x.device)], x)
    sign = torch.ones(n, 3, dtype=torch.float64)
    sign[:, 0] = torch.where(flip.cpu(), -1.0, 1.0)
    return x, torch.diag_embed(sign)


def mirror_input(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Model input [N, 3·parts, T, V, M] as done with the other side: every part's x negated, the
    layout's ``left_right`` joints swapped (the test-time mirror view, docs/TRAINING.md, "Test-time views")."""
    out = x[:, :, :, list(layout.mirror_order)].clone()
    out[:, 0::3] = -out[:, 0::3]
    return out


def _normalize_scale(x: torch.Tensor, pa: torch.Tensor, pb: torch.Tensor, lay: Layout) -> torch.Tensor:
    """x [N, T, M, V, 3] divided per sample by actor 1's mean bone length over the frames it is in."""
    present = (pa | pb)[:, :, 0].to(x.dtype)  # [N, T]
    bones = lay.bone_lengths(x[:, :, 0]).mean(-1)  # [N, T]
    scale = (bones * present).sum(1) / present.sum(1).clamp_min(1)
    return x / scale.clamp_min(1e-6)[:, None, None, None, None]


def preprocess(
    samples: Sequence[np.ndarray] | Padded | torch.Tensor,
    *,
    lengths: torch.Tensor | Sequence[int] | None = None,
    layout: str | Layout = "ntu25",
    train: bool = False,
    config: PreprocessConfig | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Batch:
    """Turn a batch of skeletons into the model input [N, 3, T, V, M] and a person mask.

    ``samples`` is a list of float32 [T_i, M_i, V, 3] arrays (what ``open_prepared(dir)
    .sequence(i)`` returns), a :class:`Padded`, or a padded tensor [N, T_max, M, V, 3]
    with ``lengths``. A person slot counts as present when it has a non-zero joint in a
    frame the output is made from, so a zero-filled second slot (NTU-60 style) is masked
    out; slots past
    ``config.persons`` are dropped (readers put the main actor first). ``train`` picks
    the random crop and the augmentations; otherwise the central crop. ``generator`` seeds
    the random draws; the computation runs on ``device``, or where a tensor input already is.
    """
    cfg = config or PreprocessConfig()
    lay = get_layout(layout) if isinstance(layout, str) else layout
    if isinstance(samples, Padded):
        data, lens = samples
    elif isinstance(samples, torch.Tensor):
        if lengths is None:
            raise UserError("preprocess: a padded tensor needs its lengths")
        data, lens = samples, torch.as_tensor(lengths, dtype=torch.long, device=samples.device)
    else:
        data, lens = pad_sequences(samples)
    if device is not None:
        data, lens = data.to(device), lens.to(device)
    if data.dim() != 5 or data.shape[-1] != 3 or data.shape[3] != lay.num_joints:
        raise UserError(
            f"preprocess: batch has shape {tuple(data.shape)}, expected [N, T, M, {lay.num_joints}, 3] "
            f"for layout {lay.name}"
        )
    if lens.shape != (data.shape[0],) or bool((lens < 1).any()) or bool((lens > data.shape[1]).any()):
        raise UserError(f"preprocess: lengths must be {data.shape[0]} values in [1, {data.shape[1]}]")
    data = data[:, :, : cfg.persons].float()  # readers put the main actor first
    n, m_in = data.shape[0], data.shape[2]

    # crop + resize first: every later step is linear (a shift of the frames where a person
    # is present, rotations), so it runs on T output frames instead of T_max input frames
    start, crop = _crop_windows(lens, cfg, train, generator)
    warp = None
    if train and cfg.speed > 0:
        warp = ((_uniform((n,), generator) * 2 - 1) * cfg.speed).exp()
    i0, i1, w = _window_frames(start, crop, cfg.frames, data.device, warp)
    a, b = _gather_frames(data, i0), _gather_frames(data, i1)  # [N, T, M, V, 3]
    w = w.to(data.dtype)[:, :, None]
    x = torch.lerp(a, b, w[..., None, None])
    pa, pb = _present(a), _present(b)  # [N, T, M]: who is there in the source frames
    person_mask = torch.nn.functional.pad((pa | pb).any(dim=1), (0, cfg.persons - m_in))

    rot = None
    if cfg.center or cfg.normalize_view:
        actor1 = _frame_of(data[:, :, 0], _first_frames(data[:, :, 0], lens))  # [N, V, 3]
        if cfg.center:
            # absent frames stay 0: shift each output frame by its share of presence
            origin = actor1[:, _ntu_joint(lay, _NTU_SPINE_MID, lay.center)]
            weight = torch.lerp(pa.to(x.dtype), pb.to(x.dtype), w)
            x = x - weight[..., None, None] * origin[:, None, None, None]
            actor1 = actor1 - origin[:, None]
        if cfg.normalize_view:
            rot = view_rotation(actor1, lay)
    if cfg.normalize_scale:
        x = _normalize_scale(x, pa, pb, lay)
    if train:
        # body frame (view) → mirror → scale and shear → rotation, composed into one matrix
        x, flip = _mirror(x, n, cfg, lay, generator)
        linear = [flip] if flip is not None else []
        if cfg.scale > 0 or cfg.shear > 0:
            linear.append(_scale_shear(n, cfg, generator))
        if cfg.rotation > 0:
            linear.append(_random_rotation(n, cfg.rotation, generator))
        for m in linear:
            m = m.to(device=x.device, dtype=x.dtype)
            rot = m if rot is None else m @ rot

    # rotate (if at all) and move to the model layout in one pass
    x = x.permute(0, 4, 1, 3, 2) if rot is None else torch.einsum("nij,ntmvj->nitvm", rot, x)
    x = torch.nn.functional.pad(x, (0, cfg.persons - m_in)).contiguous()  # [N, 3, T, V, M]
    return Batch(to_stream(x, cfg.stream, lay), person_mask)


def to_stream(x: torch.Tensor, stream: str, layout: Layout) -> torch.Tensor:
    """Model input [N, 3·parts, T, V, M] of joint coordinates [N, 3, T, V, M] as the ``stream`` asks
    (PreprocessConfig), the parts of a joined stream concatenated along channels in its order.

    Both transforms are linear and commute with the left-right mirror where the layout's bones
    are symmetric, so the mirror view (:func:`mirror_input`) applies to any stream.
    """
    parts = [_one_stream(x, part, layout) for part in stream_parts(stream)]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _one_stream(x: torch.Tensor, stream: str, layout: Layout) -> torch.Tensor:
    if stream == "bone":
        return x - x[:, :, :, list(layout.parents)]
    if stream == "motion":
        return torch.nn.functional.pad(x[:, :, 1:] - x[:, :, :-1], (0, 0, 0, 0, 0, 1))
    return x
