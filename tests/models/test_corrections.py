"""The CrossGLG corrections (docs/MODELS.md, "Corrections"): each option changes what it claims."""

from __future__ import annotations

import math

import pytest
import torch

from crossglg.errors import UserError
from tests.models.conftest import make_input, make_k_gt
from tests.models.test_crossglg import TEXT_DIM, build, text

K = 5  # classes of the models that build() makes


def bank(seed: int = 3) -> torch.Tensor:
    """[K, 6, Dt] distinct text per class."""
    return torch.randn(K, 6, TEXT_DIM, generator=torch.Generator().manual_seed(seed)) * 3


def test_bounded_reweighting_keeps_every_joint_at_or_above_its_floor():
    model = build(jid={"reweight": "bounded", "strength": 0.8, "floor": 0.4})
    k = torch.zeros(3, 25)
    k[0, :4] = 0.25  # a hard 4-joint map, as the hand-written MSR text gives
    k[1] = 1 / 25  # uniform
    k[2, 7] = 1.0  # all mass on one joint
    w = model.skeleton._joint_weight(k)
    assert float(w.min()) == pytest.approx(0.4)
    torch.testing.assert_close(w[1], torch.ones(25))  # a uniform map re-weights nothing
    torch.testing.assert_close(w[0, :4], torch.full((4,), 1 + 0.8 * (25 / 4 - 1)))
    scale = build(jid={"reweight": "scale"}).skeleton._joint_weight(k)
    assert float(scale[0, 4:].max()) == 0.0  # the paper's form zeroes the unnamed joints


def test_bounded_reweighting_at_zero_strength_equals_no_jid_reweighting():
    x = make_input("ntu25")
    bounded = build(jid={"reweight": "bounded", "strength": 0.0}).eval()
    feats = bounded.skeleton.features(x)
    plain = bounded.encoder.stem(x)
    for block in bounded.encoder.blocks:
        plain = block(plain, None)
    torch.testing.assert_close(feats.last, plain)


@pytest.mark.parametrize("eps", [0.0, 0.3, 1.0])
def test_target_smoothing_mixes_k_gt_with_uniform(eps):
    x = make_input("ntu25")
    model = build(jid={"target_smoothing": eps}, use_l2g=False)
    out = model(x)
    k_gt = make_k_gt(2, 25)
    _, parts = model.loss(out, torch.tensor([0, 1]), k_gt)
    target = (1 - eps) * k_gt + eps / 25
    torch.testing.assert_close(parts["cal"], torch.nn.functional.mse_loss(out.k_out, target))
    if eps == 1.0:  # the uniform-k_gt control: the text's joints play no part
        _, other = model.loss(out, torch.tensor([0, 1]), make_k_gt(2, 25, seed=9))
        torch.testing.assert_close(parts["cal"], other["cal"])


def fit_cross_modal(form: str, steps: int = 60) -> float:
    """Train only on L_c with a zeroed skeleton input; the last step's L_c (balanced labels)."""
    torch.manual_seed(0)
    model = build(
        l2g={"form": form, "dropout": 0.0},
        use_jid=False,
        loss={"w_s": 0.0, "w_c": 1.0, "label_smoothing": 0.0},
        encoder={"info_bottleneck": False},
    )
    y = torch.arange(K).repeat(2)
    x = torch.zeros(len(y), 3, 8, 25, 2)
    b = bank()
    # at 3e-3 the unnormalised z_c made L_c swing between 0 and 150 from step to step on an AVX-512
    # CPU, so the last step's value depended on the machine; at 3e-4 it settles by step 10
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    for _ in range(steps):
        out = model(x, b[y], b)
        loss, parts = model.loss(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(parts["c"])


def test_the_spec_l2g_classifies_from_the_text_alone():
    """The label shortcut: the text of the true class is the input, so no skeleton is needed."""
    assert fit_cross_modal("text-residual") < 0.2 * math.log(K)


def test_the_gather_l2g_cannot_classify_a_zeroed_skeleton_from_the_text():
    """Every class's text queries the same (empty) skeleton: all samples score alike, L_c >= ln K."""
    assert fit_cross_modal("gather") >= math.log(K) - 1e-4


def test_gather_scores_every_class_and_needs_the_bank():
    x = make_input("ntu25")
    model = build(l2g={"form": "gather"})
    out = model(x, None, bank())
    assert out.logits_c.shape == (2, K)
    with pytest.raises(UserError, match="text_bank"):
        model(x, text())
    with pytest.raises(UserError, match="class rows"):
        model(x, None, bank()[:3])


def test_gather_logits_are_the_head_logits_of_the_gathered_vectors():
    x = make_input("ntu25")
    model = build(l2g={"form": "gather"}, encoder={"info_bottleneck": False}).eval()
    b = bank()
    out = model(x, None, b)
    feats = model.skeleton.features(x)
    z = model.l2g.gather(b, feats.last, feats.mask)  # [N, K, D]
    for k in range(K):
        torch.testing.assert_close(out.logits_c[:, k], model.head(z[:, k])[0][:, k])


@pytest.mark.parametrize("form", ["l2", "layernorm"])
def test_normalised_head_input_puts_both_branches_on_one_scale(form):
    x = make_input("ntu25")
    raw = build(encoder={"info_bottleneck": False})
    model = build(head_input=form, encoder={"info_bottleneck": False})
    model.load_state_dict(raw.state_dict())
    model.eval()
    seen = []
    model.head.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    out = model(x, text())
    z_s, z_c = seen
    for z in (z_s, z_c):
        torch.testing.assert_close(
            z.pow(2).mean(1) if form == "l2" else z.var(1, unbiased=False),
            torch.ones(2),
            atol=1e-3,
            rtol=1e-3,
        )
    torch.testing.assert_close(out.z_s, raw.eval()(x, text()).z_s)  # one-shot embedding unchanged


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"l2g": {"form": "residual"}}, "l2g.form"),
        ({"head_input": "cosine"}, "head_input"),
        ({"jid": {"target_smoothing": 1.5}}, "target_smoothing"),
        ({"jid": {"floor": -1}}, "floor"),
    ],
)
def test_bad_correction_settings_are_user_errors(over, message):
    with pytest.raises(UserError, match=message):
        build(**over)
