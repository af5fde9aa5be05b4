"""Batched preprocessing: shapes, crop/resample against F.interpolate, centring, rotations, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossglg.data.preprocess import PreprocessConfig, pad_sequences, preprocess
from crossglg.data.synthetic import generate
from crossglg.errors import UserError
from crossglg.vocab.layouts import MSR20, NTU25


def _random_batch(spec: list[tuple[int, int]], seed: int = 0, v: int = 25) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(t, m, v, 3)).astype(np.float32) + 1.0 for t, m in spec]


def _bone_lengths(x: torch.Tensor) -> torch.Tensor:
    """[N, 3, T, V, M] → bone lengths [N, T, bones, M]."""
    child = torch.tensor([c for c, _ in NTU25.bones])
    parent = torch.tensor([p for _, p in NTU25.bones])
    return (x[:, :, :, child] - x[:, :, :, parent]).norm(dim=1)


def test_output_layout_and_person_mask() -> None:
    seqs = _random_batch([(100, 1), (30, 2), (300, 3), (2, 1)])
    batch = preprocess(seqs)
    assert batch.x.shape == (4, 3, 64, 25, 2)
    assert batch.x.dtype == torch.float32
    assert batch.person_mask.tolist() == [[True, False], [True, True], [True, True], [True, False]]
    assert torch.count_nonzero(batch.x[0, ..., 1]) == 0  # the padded second slot stays empty
    other = preprocess(seqs, config=PreprocessConfig(frames=32, persons=1))
    assert other.x.shape == (4, 3, 32, 25, 1)


def test_zero_filled_second_slot_is_masked_out() -> None:
    seq = _random_batch([(40, 2)])[0]
    seq[:, 1] = 0.0  # NTU-60 style: a second slot of zeros means nobody
    assert preprocess([seq]).person_mask.tolist() == [[True, False]]


def test_test_crop_equals_interpolate_on_the_central_95_percent() -> None:
    seqs = _random_batch([(100, 1), (37, 2), (300, 2), (64, 2)], seed=1)
    x = preprocess(seqs, config=PreprocessConfig(center=False)).x
    for i, s in enumerate(seqs):
        length = s.shape[0]
        bias = int((1 - 0.95) * length / 2)
        window = torch.from_numpy(s[bias : length - bias])  # [t, M, V, 3]
        flat = window.permute(3, 2, 1, 0).reshape(1, -1, window.shape[0])
        want = F.interpolate(flat, size=64, mode="linear", align_corners=False)
        want = want.reshape(3, 25, s.shape[1], 64).permute(0, 3, 1, 2)
        torch.testing.assert_close(x[i, ..., : s.shape[1]], want, atol=1e-5, rtol=1e-5)


def test_padded_input_ignores_frames_past_each_length() -> None:
    seqs = _random_batch([(50, 2), (20, 2)], seed=2)
    padded = pad_sequences(seqs)
    assert padded.data.shape == (2, 50, 2, 25, 3)
    poisoned = padded.data.clone()
    poisoned[1, 20:] = 1e6  # garbage beyond sample 1's valid length
    a = preprocess(seqs).x
    b = preprocess(poisoned, lengths=padded.lengths).x
    torch.testing.assert_close(a, b)
    assert b.abs().max() < 100


def test_random_crop_stays_inside_the_valid_frames_and_respects_the_ratio() -> None:
    lengths = [200, 120, 70, 10]
    seqs = []
    for t in lengths:  # x coordinate = frame index, so the output shows which frames were used
        s = np.ones((t, 1, 25, 3), dtype=np.float32)
        s[:, 0, :, 0] = np.arange(t, dtype=np.float32)[:, None]
        seqs.append(s)
    cfg = PreprocessConfig(center=False, rotation=0.0, crop_ratio=(0.5, 1.0), min_crop=16)
    for seed in range(5):
        x = preprocess(seqs, train=True, config=cfg, generator=torch.Generator().manual_seed(seed)).x
        frame = x[:, 0, :, 0, 0]  # [N, T]
        for i, t in enumerate(lengths):
            assert frame[i].min() >= 0 and frame[i].max() <= t - 1
            assert torch.all(frame[i, 1:] >= frame[i, :-1])  # resampling keeps time order
            span = frame[i].max() - frame[i].min()
            assert span >= min(max(0.5 * t, 16), t) - 2  # at least half the sequence (or min_crop)


def test_seeded_training_batches_are_reproducible() -> None:
    seqs = _random_batch([(80, 2), (45, 1), (150, 2)], seed=3)
    cfg = PreprocessConfig(normalize_view=True)
    a = preprocess(seqs, train=True, config=cfg, generator=torch.Generator().manual_seed(7)).x
    b = preprocess(seqs, train=True, config=cfg, generator=torch.Generator().manual_seed(7)).x
    c = preprocess(seqs, train=True, config=cfg, generator=torch.Generator().manual_seed(8)).x
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_centring_puts_actor_one_spine_at_the_origin_in_its_first_frame() -> None:
    data = generate(1, seed=4, classes=[1, 24], second_person=1.0)
    seqs = [s.copy() for s in data.sequences]
    seqs[0][:5, 0] = 0.0  # actor 1 appears only from frame 5
    lengths = [len(s) for s in seqs]
    for seq, t in zip(seqs, lengths, strict=True):
        # frames == length and no crop: the resampling is the identity, so frames can be checked
        cfg = PreprocessConfig(frames=t, test_ratio=1.0)
        x = preprocess([seq], config=cfg).x[0]  # [3, T, V, M]
        first = 5 if seq is seqs[0] else 0
        torch.testing.assert_close(x[:, first, 1, 0], torch.zeros(3), atol=1e-6, rtol=0)
        assert torch.count_nonzero(x[:, :first, :, 0]) == 0  # absent frames stay empty
        # the same shift applies to the second person: their relative geometry is unchanged
        raw = torch.from_numpy(seq[first, 1] - seq[first, 0])
        torch.testing.assert_close(x[:, first, :, 1].T - x[:, first, :, 0].T, raw, atol=1e-5, rtol=0)


def test_centring_uses_the_layouts_spine_joint() -> None:
    seq = _random_batch([(30, 1)], seed=5, v=20)[0]
    x = preprocess([seq], layout="msr20", config=PreprocessConfig(frames=30, test_ratio=1.0)).x[0]
    spine = MSR20.index("spine")
    torch.testing.assert_close(x[:, 0, spine, 0], torch.zeros(3), atol=1e-6, rtol=0)


def test_random_rotation_preserves_bone_lengths_and_does_rotate() -> None:
    seqs = generate(2, seed=6, classes=[1, 19]).sequences
    still = PreprocessConfig(crop_ratio=(1.0, 1.0), rotation=0.0)
    turned = PreprocessConfig(crop_ratio=(1.0, 1.0), rotation=0.3)
    a = preprocess(seqs, train=True, config=still, generator=torch.Generator().manual_seed(0)).x
    b = preprocess(seqs, train=True, config=turned, generator=torch.Generator().manual_seed(0)).x
    torch.testing.assert_close(_bone_lengths(a), _bone_lengths(b), atol=1e-5, rtol=1e-5)
    assert (a - b).abs().max() > 0.01


def test_view_normalisation_aligns_spine_with_z_and_shoulders_with_x() -> None:
    seqs = generate(3, seed=7, classes=[4]).sequences  # three cameras: three viewpoints
    cfg = PreprocessConfig(normalize_view=True, test_ratio=1.0)
    for seq in seqs:
        x = preprocess([seq], config=PreprocessConfig(frames=len(seq), normalize_view=True, test_ratio=1.0)).x
        first = x[0, :, 0, :, 0].T  # [V, 3]
        spine = first[1] - first[0]
        shoulders = first[4] - first[8]
        torch.testing.assert_close(spine / spine.norm(), torch.tensor([0.0, 0.0, 1.0]), atol=1e-5, rtol=0)
        assert abs(float(shoulders[1])) < 1e-5 and float(shoulders[0]) > 0.2
    assert preprocess(seqs, config=cfg).x.shape == (3, 3, 64, 25, 2)


def test_bad_batches_raise_user_errors() -> None:
    with pytest.raises(UserError, match="joint count"):
        preprocess(_random_batch([(10, 1)], v=25) + _random_batch([(10, 1)], v=20))
    with pytest.raises(UserError, match="layout msr20"):
        preprocess(_random_batch([(10, 1)]), layout="msr20")
    with pytest.raises(UserError, match="lengths"):
        preprocess(torch.zeros(2, 10, 1, 25, 3))
    with pytest.raises(UserError, match="crop_ratio"):
        PreprocessConfig(crop_ratio=(0.8, 0.5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_batch_equals_the_cpu_batch_under_the_same_seed() -> None:
    seqs = generate(2, seed=8, classes=[1, 26], second_person=0.5).sequences
    cfg = PreprocessConfig(normalize_view=True)
    cpu = preprocess(seqs, train=True, config=cfg, generator=torch.Generator().manual_seed(3))
    gpu = preprocess(seqs, train=True, config=cfg, generator=torch.Generator().manual_seed(3), device="cuda")
    assert gpu.x.device.type == "cuda"
    torch.testing.assert_close(gpu.x.cpu(), cpu.x, atol=1e-5, rtol=1e-5)
    assert torch.equal(gpu.person_mask.cpu(), cpu.person_mask)


# --- the input pipeline of issue 12: short-clip crop, scale normalisation, augmentations ---


def _frame_coded(t: int, v: int = 20) -> np.ndarray:
    """A [t, 1, V, 3] clip whose x coordinate is the frame index (y, z are 1): the output shows the source frame."""
    s = np.ones((t, 1, v, 3), dtype=np.float32)
    s[:, 0, :, 0] = np.arange(t, dtype=np.float32)[:, None]
    return s


def test_the_crop_fires_on_a_39_frame_clip_once_min_crop_is_below_its_length() -> None:
    clip = [_frame_coded(39)] * 8
    half = dict(center=False, rotation=0.0, crop_ratio=(0.5, 0.5), frames=32)
    gen = torch.Generator().manual_seed(0)
    old = preprocess(clip, layout="msr20", train=True, config=PreprocessConfig(**half), generator=gen).x
    # CTR-GCN's min_crop = 64 keeps every frame of a 39-frame clip: no crop at all
    old_span = old[:, 0, :, 0, 0].amax(1) - old[:, 0, :, 0, 0].amin(1)
    assert torch.all(old_span > 37)  # the resize covers frames 0..38
    cfg = PreprocessConfig(**half, min_crop=8)
    new = preprocess(clip, layout="msr20", train=True, config=cfg, generator=gen).x[:, 0, :, 0, 0]
    span = new.amax(1) - new.amin(1)
    assert torch.all(span <= 19) and torch.all(span >= 17)  # floor(0.5 · 39) = 19 frames
    assert len({round(float(v)) for v in new[:, 0]}) > 1  # the window's start is random


def test_mirror_swaps_the_paired_joints_and_negates_x() -> None:
    seq = _random_batch([(30, 1)], seed=11, v=20)[0]
    base = dict(center=False, rotation=0.0, crop_ratio=(1.0, 1.0), frames=30)
    plain = preprocess([seq], layout="msr20", train=True, config=PreprocessConfig(**base)).x[0]
    flipped = preprocess([seq], layout="msr20", train=True, config=PreprocessConfig(**base, mirror=1.0)).x[0]
    perm = list(range(20))
    for a, b in MSR20.left_right:
        perm[a], perm[b] = b, a
    assert perm != list(range(20))
    torch.testing.assert_close(flipped[0], -plain[0][:, perm])
    torch.testing.assert_close(flipped[1:], plain[1:][:, :, perm])
    # with probability 0.5 about half of a batch is mirrored
    many = preprocess([seq] * 200, layout="msr20", train=True, config=PreprocessConfig(**base, mirror=0.5),
                      generator=torch.Generator().manual_seed(1)).x  # fmt: skip
    share = (many[:, 0, 0, 0, 0] != plain[0, 0, 0, 0]).float().mean()
    assert 0.35 < share < 0.65
    # the test-time mirror view is the same transform, applied to every sample of a model input
    from crossglg.data.preprocess import mirror_input

    torch.testing.assert_close(mirror_input(plain[None], MSR20)[0], flipped)
    torch.testing.assert_close(mirror_input(mirror_input(plain[None], MSR20), MSR20)[0], plain)
    assert MSR20.mirror_order == tuple(perm)


def test_scaling_changes_every_bone_length_by_one_factor_per_sample() -> None:
    seqs = generate(6, seed=12, classes=[1, 19]).sequences
    base = dict(crop_ratio=(1.0, 1.0), rotation=0.0)
    gen = torch.Generator().manual_seed(4)
    a = preprocess(seqs, train=True, config=PreprocessConfig(**base), generator=gen).x
    b = preprocess(seqs, train=True, config=PreprocessConfig(**base, scale=0.2), generator=gen).x
    ratio = _bone_lengths(b[..., :1]) / _bone_lengths(a[..., :1]).clamp_min(1e-6)  # actor 1
    valid = _bone_lengths(a[..., :1]) > 1e-3
    factors = torch.stack([ratio[i][valid[i]].mean() for i in range(len(seqs))])
    for i in range(len(seqs)):
        torch.testing.assert_close(
            ratio[i][valid[i]], factors[i].expand(int(valid[i].sum())), atol=1e-4, rtol=1e-4
        )
    assert torch.all((factors >= 0.8) & (factors <= 1.2))
    assert factors.std() > 0.01  # one factor per sample, not one per batch


def test_shear_is_a_linear_map_with_a_unit_diagonal_and_bounded_off_diagonal() -> None:
    seq = _random_batch([(20, 1)], seed=13)[0]
    base = dict(center=False, crop_ratio=(1.0, 1.0), rotation=0.0, frames=20)
    a = preprocess([seq], train=True, config=PreprocessConfig(**base)).x[0].reshape(3, -1)
    gen = torch.Generator().manual_seed(5)
    b = preprocess([seq], train=True, config=PreprocessConfig(**base, shear=0.3), generator=gen).x[0]
    b = b.reshape(3, -1)
    s = torch.linalg.lstsq(a.T.double(), b.T.double()).solution.T  # b = S a
    torch.testing.assert_close(s @ a.double(), b.double(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s.diagonal(), torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)
    off = s[~torch.eye(3, dtype=torch.bool)]
    assert off.abs().max() <= 0.3 + 1e-6 and off.abs().max() > 0.01


def test_speed_change_warps_time_monotonically_inside_the_crop() -> None:
    clip = [_frame_coded(40)] * 16
    base = dict(center=False, rotation=0.0, crop_ratio=(1.0, 1.0), frames=20)
    plain = preprocess(clip, layout="msr20", train=True, config=PreprocessConfig(**base)).x[:, 0, :, 0, 0]
    gen = torch.Generator().manual_seed(6)
    cfg = PreprocessConfig(**base, speed=0.5)
    warped = preprocess(clip, layout="msr20", train=True, config=cfg, generator=gen).x[:, 0, :, 0, 0]
    assert torch.all(warped[:, 1:] >= warped[:, :-1]) and warped.min() >= 0 and warped.max() <= 39
    steps = warped[:, 1:] - warped[:, :-1]
    assert torch.allclose(plain[:, 2:] - plain[:, 1:-1], torch.full_like(plain[:, 2:], 2.0))  # uniform resize
    assert float((steps[:, -1] - steps[:, 1]).abs().max()) > 0.5  # the pace changes along the clip
    assert (steps[:, -1] > steps[:, 1]).any() and (steps[:, -1] < steps[:, 1]).any()  # faster and slower


def test_scale_normalisation_gives_unit_mean_bone_length_whatever_the_body_size() -> None:
    seq = generate(1, seed=14, classes=[5]).sequences[0]
    cfg = PreprocessConfig(normalize_scale=True)
    small = preprocess([seq], config=cfg).x
    big = preprocess([seq * 3.0], config=cfg).x
    torch.testing.assert_close(small, big, atol=1e-5, rtol=1e-5)
    lengths = _bone_lengths(small)[0, :, :, 0]  # actor 1, [T, bones]
    assert abs(float(lengths.mean()) - 1.0) < 1e-4
    sizes = [float(_bone_lengths(preprocess([seq * f]).x)[0, :, :, 0].mean()) for f in (1.0, 3.0)]
    assert abs(sizes[1] / sizes[0] - 3.0) < 1e-3  # without it, body size stays in the input


def test_augmentations_that_are_off_draw_no_random_numbers() -> None:
    seqs = _random_batch([(80, 1), (45, 1)], seed=15)
    old = preprocess(seqs, train=True, generator=torch.Generator().manual_seed(9)).x
    cfg = PreprocessConfig(scale=0.0, shear=0.0, mirror=0.0, speed=0.0, normalize_scale=False)
    new = preprocess(seqs, train=True, config=cfg, generator=torch.Generator().manual_seed(9)).x
    assert torch.equal(old, new)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("mirror", 1.5, "probability"),
        ("scale", 1.0, "scale"),
        ("speed", -0.1, "speed"),
        ("min_crop", 0, "min_crop"),
    ],
)
def test_bad_augmentation_settings_are_user_errors(field: str, value: float, match: str) -> None:
    with pytest.raises(UserError, match=match):
        PreprocessConfig(**{field: value})


def test_bone_and_motion_streams_are_what_the_joints_give() -> None:
    seqs = _random_batch([(50, 2), (20, 1)], seed=5)
    joint = preprocess(seqs).x
    bone = preprocess(seqs, config=PreprocessConfig(stream="bone")).x
    motion = preprocess(seqs, config=PreprocessConfig(stream="motion")).x
    for child, parent in NTU25.bones:  # every bone: the joint minus its parent
        torch.testing.assert_close(bone[:, :, :, child], joint[:, :, :, child] - joint[:, :, :, parent])
    assert torch.count_nonzero(bone[:, :, :, NTU25.center]) == 0  # the centre has no parent
    torch.testing.assert_close(motion[:, :, :-1], joint[:, :, 1:] - joint[:, :, :-1])
    assert torch.count_nonzero(motion[:, :, -1]) == 0 and motion.shape == joint.shape
    assert torch.count_nonzero(bone[1, ..., 1]) == torch.count_nonzero(motion[1, ..., 1]) == 0  # empty slot
    # the test-time mirror view is the same whether it is taken before or after the transform
    from crossglg.data.preprocess import mirror_input, to_stream

    for stream in ("bone", "motion"):
        torch.testing.assert_close(
            mirror_input(to_stream(joint, stream, NTU25), NTU25),
            to_stream(mirror_input(joint, NTU25), stream, NTU25),
        )
    with pytest.raises(UserError, match="stream must be one of joint, bone, motion or several joined by"):
        PreprocessConfig(stream="velocity")


def test_a_joined_stream_is_its_parts_side_by_side_and_mirrors_as_they_do() -> None:
    from crossglg.data.preprocess import mirror_input, to_stream
    from crossglg.vocab.streams import stream_channels

    seqs = _random_batch([(50, 2), (20, 1)], seed=6)
    joint = preprocess(seqs).x
    parts = {s: preprocess(seqs, config=PreprocessConfig(stream=s)).x for s in ("bone", "motion")}
    joined = preprocess(seqs, config=PreprocessConfig(stream="motion+joint+bone")).x
    assert joined.shape[1] == 9 == stream_channels("motion+joint+bone")
    # in the order written: motion's xyz, then the joint's, then the bone's
    torch.testing.assert_close(joined, torch.cat([parts["motion"], joint, parts["bone"]], dim=1))
    # the mirror negates every part's x channel (0, 3, 6), not only the first
    torch.testing.assert_close(
        mirror_input(joined, NTU25), to_stream(mirror_input(joint, NTU25), "motion+joint+bone", NTU25)
    )
    for bad in ("joint+joint", "joint+", "joint+velocity", "joint bone"):
        with pytest.raises(UserError, match="several joined by '\\+' \\(each once\\)"):
            PreprocessConfig(stream=bad)
