"""Masked person pooling, the cosine classifier head and the supervised-contrastive term (issue 12)."""

from __future__ import annotations

import pytest
import torch

from crossglg.errors import UserError
from crossglg.models import ModelConfig, build_model
from crossglg.models.base import CosineHead, SkeletonEncoder
from crossglg.models.jid import person_mask
from crossglg.models.losses import supervised_contrastive
from tests.models.conftest import make_input

ENCODERS = ("infogcn", "stgcn", "ctrgcn")


def _base(encoder: str = "infogcn", seed: int = 0, **encoder_cfg):
    torch.manual_seed(seed)
    return build_model(encoder, "ntu25", 5, {"use_text": False, "encoder": encoder_cfg}).eval()


def test_pooling_leaves_an_empty_person_slot_out() -> None:
    enc = _base().encoder
    f = torch.randn(2 * 2, 8, 4, 25)  # [N·M, C, T, V]
    f[1] = 5.0  # sample 0's second slot: a constant dummy, as an empty slot gives after the blocks
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    pooled = SkeletonEncoder.pool(enc, f, 2, mask)
    torch.testing.assert_close(pooled[0], f[0].mean(dim=(1, 2)))  # only the actor
    torch.testing.assert_close(pooled[1], f[2:].mean(dim=(0, 2, 3)))  # both present: the plain mean
    plain = SkeletonEncoder.pool(enc, f, 2, None)
    torch.testing.assert_close(plain[0], f[:2].mean(dim=(0, 2, 3)))  # the reference: the dummy averaged in


@pytest.mark.parametrize("encoder", ENCODERS)
def test_nothing_of_an_empty_slot_reaches_the_embedding(encoder: str) -> None:
    model = _base(encoder, num_person=2)
    x = make_input("ntu25", n=3, t=8, m=2)
    x[:2, ..., 1] = 0  # nobody in the second slot of samples 0 and 1; sample 2 has two persons
    x[2, ..., 1] = torch.randn(x[2, ..., 1].shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        feats = model.skeleton.features(x)
        other = feats.last.clone().view(3, 2, *feats.last.shape[1:])
        other[:2, 1] = torch.randn_like(other[:2, 1]) * 10  # whatever the empty slot's features
        z_other = model.encoder.pool(other.view_as(feats.last), 2, person_mask(x))
        torch.testing.assert_close(z_other, feats.z)
        legacy = _base(encoder, num_person=2, mask_empty_persons=False)
        z_legacy = legacy.encoder.pool(other.view_as(feats.last), 2, person_mask(x))
    assert not torch.allclose(z_legacy[:2], feats.z[:2], atol=1e-3)  # the reference averages the slot in
    torch.testing.assert_close(z_legacy[2], feats.z[2])  # two persons present: nothing changes


def test_cosine_head_logits_are_bounded_and_ignore_the_embedding_norm() -> None:
    head = CosineHead(16, 4, dropout=0.0, scale=16.0)
    z = torch.randn(5, 16)
    logits, latent = head(z)
    assert latent is None and logits.shape == (5, 4)
    assert float(logits.detach().abs().max()) <= 16.0 + 1e-4
    torch.testing.assert_close(head(z * 7.0)[0], logits)
    assert head.fc.bias is None
    model = build_model(
        "infogcn", "ntu25", 5, {"use_text": False, "encoder": {"head": "cosine", "info_bottleneck": False}}
    )
    assert isinstance(model.head, CosineHead)


def test_cosine_head_config_is_checked() -> None:
    with pytest.raises(UserError, match=r"encoder\.head"):
        ModelConfig.from_dict({"encoder": {"head": "arcface"}})
    with pytest.raises(UserError, match="info_bottleneck"):
        build_model("infogcn", "ntu25", 5, {"use_text": False, "encoder": {"head": "cosine"}})
    with pytest.raises(UserError, match="head_scale"):
        ModelConfig.from_dict({"encoder": {"head_scale": 0.0}})


def test_supervised_contrastive_rewards_same_class_neighbours() -> None:
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    centres = torch.eye(3)[y] * 4
    clustered = centres + 0.05 * torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    mixed = centres[[0, 2, 4, 1, 3, 5]]  # every positive points elsewhere
    good, bad = supervised_contrastive(clustered, y, 0.1), supervised_contrastive(mixed, y, 0.1)
    assert float(good) < 0.5 < float(bad)
    # by hand for one anchor of a 3-sample batch: -log softmax over the other two
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    sims = torch.tensor([0.6, 0.0]) / 0.5
    want_anchor0 = -(sims[0] - sims.logsumexp(0))
    loss = supervised_contrastive(z, torch.tensor([0, 0, 1]), 0.5)
    sims1 = torch.tensor([0.6, 0.8]) / 0.5
    want = (want_anchor0 - (sims1[0] - sims1.logsumexp(0))) / 2  # anchors 0 and 1; 2 has no positive
    torch.testing.assert_close(loss, want)


def test_supervised_contrastive_without_positives_is_zero_and_differentiable() -> None:
    z = torch.randn(4, 8, requires_grad=True)
    loss = supervised_contrastive(z, torch.arange(4), 0.1)
    loss.backward()
    assert float(loss.detach()) == 0.0 and z.grad is not None


def test_the_supcon_weight_adds_its_term_to_the_loss() -> None:
    torch.manual_seed(0)
    cfg = {"use_text": False, "encoder": {"info_bottleneck": False}, "loss": {"w_supcon": 0.5}}
    model = build_model("infogcn", "ntu25", 5, cfg)
    x = make_input("ntu25", n=4, t=8)
    y = torch.tensor([1, 1, 3, 3])
    out = model(x)
    total, parts = model.loss(out, y)
    assert set(parts) == {"s", "supcon"}
    torch.testing.assert_close(total.detach(), parts["s"] + 0.5 * parts["supcon"])
    with pytest.raises(UserError, match="w_supcon"):
        ModelConfig.from_dict({"loss": {"w_supcon": -1.0}})


def test_reconstruction_error_is_a_share_of_the_inputs_variance() -> None:
    from crossglg.models.losses import reconstruction_error

    t = torch.randn(3, 8, 25, 3, generator=torch.Generator().manual_seed(1)) * 40.0 + 7.0
    assert float(reconstruction_error(t, t)) == 0.0
    assert float(reconstruction_error(torch.full_like(t, float(t.mean())), t)) == pytest.approx(1.0, rel=1e-5)
    # the unit of the coordinates does not matter: millimetres or metres give one value
    guess = t + torch.randn(t.shape, generator=torch.Generator().manual_seed(2)) * 10
    assert float(reconstruction_error(guess / 1000, t / 1000)) == pytest.approx(
        float(reconstruction_error(guess, t))
    )


@pytest.mark.parametrize("encoder", ENCODERS)
def test_the_read_back_target_is_the_input_per_feature_frame_and_present_person(encoder: str) -> None:
    """T = 16 input frames become 4 feature frames: each target frame is the mean of its 4 input
    frames, over the persons present (tests/models/conftest.py: the last sample's second is empty)."""
    torch.manual_seed(0)
    cfg = {"use_text": False, "encoder": {"num_person": 2}, "loss": {"w_recon": 0.5}}
    if encoder == "infogcn":
        cfg["encoder"]["info_bottleneck"] = False
    model = build_model(encoder, "ntu25", 5, cfg)
    x = make_input("ntu25", n=3, t=16)
    out = model(x)
    predicted, target = out.recon
    assert predicted.shape == target.shape == (3, 4, 25, 3)
    span = x.reshape(3, 3, 4, 4, 25, 2).mean(3)  # [N, C, T', V, M]
    torch.testing.assert_close(target[0], span[0].mean(-1).permute(1, 2, 0))
    torch.testing.assert_close(target[2], span[2, ..., 0].permute(1, 2, 0))  # the empty slot left out
    total, parts = model.loss(out, torch.tensor([0, 1, 2]))
    assert set(parts) == {"s", "recon"}
    torch.testing.assert_close(total.detach(), parts["s"] + 0.5 * parts["recon"])
    total.backward()
    assert model.encoder.blocks[0].parameters().__next__().grad.abs().sum() > 0  # it trains the encoder
    # the read-back map is a training aid: the exported branch and a model without the term lack it
    assert not any("read_back" in k for k in model.inference_model().state_dict())
    plain = build_model(encoder, "ntu25", 5, {**cfg, "loss": {}})
    assert plain(x).recon is None and not any("read_back" in k for k in plain.state_dict())
    with pytest.raises(UserError, match="w_recon"):
        ModelConfig.from_dict({"loss": {"w_recon": -1.0}})


@pytest.mark.parametrize("encoder", ENCODERS)
def test_depth_keeps_the_first_blocks_and_embeds_at_their_width(encoder: str) -> None:
    """`encoder.depth = 3`: three blocks of base width and no temporal stride, so the per-joint
    features keep every input frame; a depth beyond the plan, or a JID after the last kept block,
    is a one-line config error."""
    full = _base(encoder, num_person=2)
    short = _base(encoder, num_person=2, depth=3)
    x = make_input("ntu25", n=2, t=16)
    assert len(short.encoder.blocks) == 3 and short.encoder.channels == full.encoder.channels[:3]
    feats = short.skeleton.features(x)
    assert feats.z.shape == (2, full.encoder.channels[0]) and feats.joint_frames().shape[1] == 16
    assert short(x).logits_s.shape == (2, 5)
    for name, _ in short.encoder.blocks.named_parameters():  # the kept blocks are the full plan's
        assert name in dict(full.encoder.blocks.named_parameters())
    with pytest.raises(UserError, match=rf"encoder\.depth=11; {encoder} has"):
        _base(encoder, depth=11)
    with pytest.raises(UserError, match=r"jid\.n_pre=5"):
        build_model(
            encoder, "ntu25", 5, {"encoder": {"depth": 4, "info_bottleneck": False}, "jid": {"n_pre": 5}}
        )
    with pytest.raises(UserError, match="depth"):
        ModelConfig.from_dict({"encoder": {"depth": 0}})
