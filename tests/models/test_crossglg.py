"""CrossGLG wrapper: JID, L2G, dual branch, losses and the text-free inference model."""

from __future__ import annotations

import io

import pytest
import torch

from crossglg.errors import UserError
from crossglg.models import ModelConfig, build_inference_model, build_model
from tests.models.conftest import make_input, make_k_gt

ENCODERS = ("infogcn", "stgcn", "ctrgcn")
TEXT_DIM = 16
Y = torch.tensor([1, 3])


def build(name: str = "infogcn", seed: int = 0, **over):
    """Default CrossGLG on NTU-25 with 5 classes and a narrow text width (cheap fake text)."""
    cfg = {"l2g": {"text_dim": TEXT_DIM, **over.pop("l2g", {})}, **over}
    torch.manual_seed(seed)
    return build_model(name, "ntu25", 5, cfg)


def text(n: int = 2, p: int = 6, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, p, TEXT_DIM, generator=torch.Generator().manual_seed(seed))


def grad_norm(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_forward_outputs_and_k_out_sums_to_one(encoder, x_ntu):
    out = build(encoder)(x_ntu, text())
    assert out.logits_s.shape == (2, 5)
    assert out.logits_c.shape == (2, 5)
    assert out.z_s.shape == (2, 256)
    assert out.k_out.shape == (2, 25)
    torch.testing.assert_close(out.k_out.sum(1), torch.ones(2))
    assert (out.k_out > 0).all()


def test_zero_person_is_masked_out_of_k_out(x_ntu):
    """The last sample's second person is all zeros: its k_out is the first person's alone."""
    model = build().eval()
    k_person = model.skeleton.features(x_ntu).k_person.view(2, 2, 25)
    out = model(x_ntu)
    torch.testing.assert_close(out.k_out[1], k_person[1, 0])
    torch.testing.assert_close(out.k_out[0], k_person[0].mean(0))
    assert not torch.allclose(k_person[1, 0], k_person[1, 1])


@pytest.mark.parametrize("encoder", ENCODERS)
def test_gradient_of_l_c_alone_reaches_the_first_and_last_blocks(encoder, x_ntu):
    model = build(encoder, loss={"w_s": 0.0, "w_cal": 0.0, "w_c": 1.0}, encoder={"info_bottleneck": False})
    out = model(x_ntu, text())
    total, parts = model.loss(out, Y, make_k_gt(2, 25))
    torch.testing.assert_close(total.detach(), parts["c"])
    total.backward()
    assert grad_norm(model.encoder.blocks[0]) > 0
    assert grad_norm(model.encoder.blocks[-1]) > 0
    assert grad_norm(model.l2g) > 0


@pytest.mark.parametrize("encoder", ENCODERS)
def test_gradient_of_l_cal_alone_reaches_the_blocks_before_the_jid(encoder, x_ntu):
    model = build(encoder, loss={"w_s": 0.0, "w_cal": 1.0, "w_c": 0.0}, encoder={"info_bottleneck": False})
    out = model(x_ntu, text())
    total, parts = model.loss(out, Y, make_k_gt(2, 25))
    torch.testing.assert_close(total.detach(), parts["cal"])
    total.backward()
    assert grad_norm(model.encoder.blocks[0]) > 0
    assert grad_norm(model.skeleton.jid) > 0
    assert grad_norm(model.encoder.blocks[-1]) == 0  # the later blocks do not shape k_out


def test_loss_is_the_weighted_sum_of_its_parts(x_ntu):
    model = build()
    out = model(x_ntu, text())
    total, parts = model.loss(out, Y, make_k_gt(2, 25))
    assert set(parts) == {"s", "cal", "c", "mmd", "l2_z_mean"}
    expect = (
        parts["s"] + 0.5 * parts["cal"] + 0.2 * parts["c"] + 0.1 * parts["mmd"] + 1e-4 * parts["l2_z_mean"]
    )
    torch.testing.assert_close(total.detach(), expect)


def test_jid_without_k_gt_is_refused(x_ntu):
    model = build()
    with pytest.raises(ValueError, match="k_gt"):
        model.loss(model(x_ntu), Y)


def test_detached_reweighting_trains_the_jid_only_through_l_cal(x_ntu):
    model = build(jid={"detach": True}, loss={"w_cal": 0.0, "w_c": 0.0})
    total, _ = model.loss(model(x_ntu), Y, make_k_gt(2, 25))
    total.backward()
    assert grad_norm(model.skeleton.jid) == 0
    attached = build(jid={"detach": False}, loss={"w_cal": 0.0, "w_c": 0.0})
    total, _ = attached.loss(attached(x_ntu), Y, make_k_gt(2, 25))
    total.backward()
    assert grad_norm(attached.skeleton.jid) > 0


def test_residual_reweighting_changes_the_embedding(x_ntu):
    scale = build().eval()
    res = build(jid={"reweight": "residual"}).eval()
    res.load_state_dict(scale.state_dict())
    assert not torch.allclose(scale.embed(x_ntu), res.embed(x_ntu))


@pytest.mark.parametrize("parts", ["parts6", "joints", ["head", "left wrist", "leg"]])
def test_l2g_takes_any_number_of_text_tokens(parts, x_ntu):
    model = build(l2g={"parts": parts})
    p = {"parts6": 6, "joints": 25}.get(parts if isinstance(parts, str) else "", 3)
    assert model.l2g.pooling.shape == (p, 25)
    torch.testing.assert_close(model.l2g.pooling.sum(1), torch.ones(p))
    assert model(x_ntu, text(p=p)).logits_c.shape == (2, 5)


def test_text_of_the_wrong_shape_names_the_setting(x_ntu):
    with pytest.raises(UserError, match=r"l2g.parts"):
        build()(x_ntu, text(p=25))


def test_unknown_config_key_is_a_user_error():
    with pytest.raises(UserError, match=r"jid\.hiden_mult"):
        ModelConfig.from_dict({"jid": {"hiden_mult": 4}})
    with pytest.raises(UserError, match="n_pre"):
        build(jid={"n_pre": 9})


def test_config_round_trips_through_a_dict():
    cfg = ModelConfig.from_dict({"use_l2g": False, "l2g": {"parts": ["head", "hand"]}, "jid": {"n_pre": 4}})
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("encoder", ENCODERS)
def test_text_off_is_the_base_encoder_and_only_the_jid_differs(encoder, x_ntu):
    """Same seed: the CrossGLG skeleton branch = the base encoder's parameters + jid.*."""
    base = build(encoder, use_text=False)
    full = build(encoder)
    b, f = base.skeleton.state_dict(), full.skeleton.state_dict()
    assert set(f) - set(b) == {k for k in f if k.startswith("jid.")} != set()
    assert set(b) <= set(f)
    for key, value in b.items():
        torch.testing.assert_close(f[key], value, msg=key)
    for key, value in base.head.state_dict().items():  # the shared classifier starts equal too
        torch.testing.assert_close(full.head.state_dict()[key], value, msg=key)
    assert base.skeleton.jid is None and base.l2g is None
    assert base(x_ntu, text()).logits_c is None
    # the base branch equals the plain encoder module itself
    torch.testing.assert_close(base.eval().embed(x_ntu), base.encoder(x_ntu))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_deterministic_under_a_seed(encoder, x_ntu):
    a, b = build(encoder, seed=7), build(encoder, seed=7)
    torch.manual_seed(3)
    out_a = a(x_ntu, text())
    torch.manual_seed(3)
    out_b = b(x_ntu, text())
    torch.testing.assert_close(out_a.logits_s, out_b.logits_s)
    torch.testing.assert_close(out_a.logits_c, out_b.logits_c)
    assert not torch.allclose(build(encoder, seed=8).eval().embed(x_ntu), a.eval().embed(x_ntu))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_inference_model_holds_only_encoder_and_jid_and_matches(encoder, x_ntu):
    model = build(encoder)
    model(x_ntu, text()).logits_s.sum().backward()  # touch BN statistics as training does
    model.eval()
    inf = model.inference_model()
    names = {n for n, _ in inf.named_parameters()}
    assert names == {f"encoder.{n}" for n, _ in model.encoder.named_parameters()} | {
        f"jid.{n}" for n, _ in model.skeleton.jid.named_parameters()
    }
    count = sum(p.numel() for p in inf.parameters())
    base = sum(p.numel() for p in model.encoder.parameters())
    assert count == base + sum(p.numel() for p in model.skeleton.jid.parameters())
    assert not any("l2g" in k or "head" in k or "text" in k for k in inf.state_dict())
    torch.testing.assert_close(inf(x_ntu), model.embed(x_ntu), rtol=0, atol=0)
    # exported and reloaded into a freshly built, untrained branch
    buf = io.BytesIO()
    torch.save(inf.state_dict(), buf)
    buf.seek(0)
    fresh = build_inference_model(encoder, "ntu25", {"l2g": {"text_dim": TEXT_DIM}})
    fresh.load_state_dict(torch.load(buf))
    torch.testing.assert_close(fresh(x_ntu), model.embed(x_ntu), rtol=0, atol=0)
    k = fresh.joint_importance(make_input("ntu25"))
    torch.testing.assert_close(k.sum(1), torch.ones(2))


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ENCODERS)
def test_compiles_as_one_graph(encoder, x_ntu):
    """torch.compile sees no graph break in training mode with text (fullgraph raises on one)."""
    model = build(encoder)
    out = torch.compile(model, fullgraph=True, backend="eager")(x_ntu, text())
    assert out.logits_c.shape == (2, 5)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_inference_branch_traces_for_export(encoder, x_ntu):
    inf = build(encoder).eval().inference_model()
    traced = torch.jit.trace(inf, x_ntu, check_trace=False)
    torch.testing.assert_close(traced(x_ntu), inf(x_ntu))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_bf16_autocast_gives_finite_float32_losses(encoder, x_ntu):
    """Every block runs in bf16 (no float32 parameter promotes the activations) and the losses are float32."""
    model = build(encoder)
    dtypes = []
    for block in model.encoder.blocks:
        block.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x_ntu, text())
        total, parts = model.loss(out, Y, make_k_gt(2, 25))
    assert dtypes == [torch.bfloat16] * len(model.encoder.blocks)
    assert out.k_out.dtype == torch.float32
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in parts.values())
    torch.testing.assert_close(out.k_out.sum(1), torch.ones(2))
    assert total.dtype == torch.float32 and torch.isfinite(total)
    total.backward()
    assert grad_norm(model.encoder.blocks[0]) > 0


@pytest.mark.parametrize(("use_jid", "use_l2g"), [(True, False), (False, True)])
def test_ablation_switches_drop_one_half(use_jid, use_l2g, x_ntu):
    """The paper's G2L / L2G ablation: G2L only (JID + L_cal) or L2G only (L_c)."""
    model = build(use_jid=use_jid, use_l2g=use_l2g)
    assert (model.skeleton.jid is not None) == use_jid
    assert (model.l2g is not None) == use_l2g
    out = model(x_ntu, text())
    assert (out.k_out is not None) == use_jid
    assert (out.logits_c is not None) == use_l2g
    _, parts = model.loss(out, Y, make_k_gt(2, 25) if use_jid else None)
    assert set(parts) == {"s", "mmd", "l2_z_mean"} | ({"cal"} if use_jid else {"c"})


@pytest.mark.parametrize("encoder", ENCODERS)
def test_per_frame_features_average_to_what_the_encoder_pools(encoder, x_ntu):
    """frames() is the last block before temporal pooling: its time mean is the pooled vector."""
    model = build(encoder).eval()
    x = x_ntu[:1]  # both persons present, so the masked and plain person means agree
    with torch.no_grad():
        feats = model.skeleton.features(x)
        frames = feats.frames()
    assert frames.shape == (1, feats.last.shape[2], feats.last.shape[1])
    pooled = frames.mean(1)
    if encoder == "infogcn":  # InfoGCN pools, then applies fc + ReLU: z_s comes after that layer
        pooled = torch.relu(model.encoder.fc(pooled))
    torch.testing.assert_close(pooled, feats.z, rtol=1e-4, atol=1e-5)
    assert frames.std(1).abs().sum() > 0  # the frames differ: there is an order to align
    per_joint = feats.joint_frames()  # [N, T', V, C]: the same features, joints kept apart
    assert per_joint.shape == (1, frames.shape[1], x.shape[3], frames.shape[2])
    torch.testing.assert_close(per_joint.mean(2), frames, rtol=1e-4, atol=1e-5)
    assert per_joint.std(2).abs().sum() > 0  # the joints differ: there is a layout to match
