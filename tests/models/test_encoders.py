"""The three base encoders on every layout: shapes, sizes and the one interface they share."""

from __future__ import annotations

import pytest
import torch

from crossglg.models import EncoderConfig, build_model
from crossglg.models.registry import ENCODERS, make_encoder
from crossglg.vocab.layouts import LAYOUTS, get_layout
from tests.models.conftest import make_input

EXPECTED_STAGES = {
    "infogcn": (64,) * 3 + (128,) * 3 + (256,) * 3,
    "stgcn": (64,) * 4 + (128,) * 3 + (256,) * 3,
}
EXPECTED_STAGES["ctrgcn"] = EXPECTED_STAGES["stgcn"]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("encoder", ENCODERS.names())
def test_shapes_for_every_encoder_and_layout(encoder, layout):
    torch.manual_seed(0)
    model = build_model(encoder, layout, 7, {"l2g": {"text_dim": 12}})
    v = get_layout(layout).num_joints
    x = make_input(layout, n=2, t=8)
    feats = model.skeleton.features(x)
    assert feats.last.shape == (4, 256, 2, v)  # [N·M, C, T/4, V]
    out = model(x, torch.randn(2, 6, 12))
    assert out.logits_s.shape == out.logits_c.shape == (2, 7)
    assert out.z_s.shape == (2, 256)
    assert out.k_out.shape == (2, v)
    assert torch.isfinite(out.logits_s).all()


@pytest.mark.parametrize("encoder", ENCODERS.names())
def test_block_stack_and_default_jid_position(encoder):
    enc = make_encoder(encoder, get_layout("ntu25"), EncoderConfig())
    assert enc.channels == EXPECTED_STAGES[encoder]
    x = make_input("ntu25", t=8)
    f = enc.stem(x)
    assert f.shape[:2] == (4, 64 if encoder == "infogcn" else 3)
    for block, c in zip(enc.blocks, enc.channels, strict=True):
        f = block(f, None)
        assert f.shape[1] == c
    # the JID reads the 128-channel stage (l6) on every encoder
    assert enc.channels[enc.default_n_pre - 1] == 128
    assert enc.default_n_pre == (5 if encoder == "infogcn" else 6)


@pytest.mark.parametrize(
    ("encoder", "classes", "low", "high"),
    [("infogcn", 120, 1.5e6, 1.65e6), ("stgcn", 60, 3.0e6, 3.2e6), ("ctrgcn", 60, 1.4e6, 1.5e6)],
)
def test_parameter_counts_match_the_published_sizes(encoder, classes, low, high):
    """InfoGCN ~1.6M (the paper), ST-GCN ~3.1M, CTR-GCN ~1.46M at NTU scale."""
    model = build_model(encoder, "ntu25", classes, {"use_text": False})
    assert low < sum(p.numel() for p in model.parameters()) < high


@pytest.mark.parametrize("encoder", ENCODERS.names())
def test_joint_weight_hook_changes_only_later_features(encoder):
    """The hook multiplies the spatial-aggregation output: uniform weight 1 is a no-op, others are not."""
    torch.manual_seed(0)
    enc = make_encoder(encoder, get_layout("ntu25"), EncoderConfig()).eval()
    f = enc.stem(make_input("ntu25", t=8))
    block = enc.blocks[6]
    for b in enc.blocks[:6]:
        f = b(f, None)
    plain = block(f, None)
    torch.testing.assert_close(block(f, torch.ones(4, 25)), plain)
    w = torch.ones(4, 25)
    w[:, 3] = 0.0
    assert not torch.allclose(block(f, w), plain)


def test_info_bottleneck_is_optional():
    with_ib = build_model("infogcn", "ntu25", 10, {"use_text": False})
    plain = build_model("infogcn", "ntu25", 10, {"use_text": False, "encoder": {"info_bottleneck": False}})
    assert {"fc_mu.weight", "fc_logvar.weight", "decoder.weight", "z_prior"} <= set(with_ib.head.state_dict())
    assert set(plain.head.state_dict()) == {"fc.weight", "fc.bias"}
    x = make_input("ntu25", t=8)
    out = plain(x)
    assert out.latent is None
    _, parts = plain.loss(out, torch.tensor([0, 1]))
    assert set(parts) == {"s"}


def test_ib_samples_in_training_and_uses_mu_in_eval():
    torch.manual_seed(0)
    model = build_model("infogcn", "ntu25", 10, {"use_text": False})
    x = make_input("ntu25", t=8)
    model.eval()
    first, second = model(x).logits_s, model(x).logits_s
    torch.testing.assert_close(first, second)
    z = model.embed(x)
    torch.testing.assert_close(model.head.fc_mu(z), model(x).latent)
    model.train()
    assert not torch.allclose(model(x).latent, model(x).latent)
