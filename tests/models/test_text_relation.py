"""Text-relation targets and text-scaled margins for L_s (docs/MODELS.md, "Text-relation targets")."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from crossglg.errors import UserError
from crossglg.models import ModelConfig
from crossglg.models.losses import soft_cross_entropy, text_margins, text_relation_targets
from tests.models.test_crossglg import build

# three classes: 0 and 1 described alike, 2 unlike both
SIMILARITY = torch.tensor([[1.0, 0.8, 0.3], [0.8, 1.0, 0.4], [0.3, 0.4, 1.0]])


def test_the_share_off_the_label_goes_to_the_classes_whose_text_is_alike():
    y = torch.tensor([0, 1, 2])
    target = text_relation_targets(SIMILARITY[y], y, share=0.3, temperature=0.1)
    torch.testing.assert_close(target.sum(1), torch.ones(3))
    torch.testing.assert_close(target.diagonal(), torch.full((3,), 0.7))
    # class 0's other mass: softmax(0.8/0.1, 0.3/0.1) over classes 1 and 2
    expected = 0.3 * torch.tensor([0.8, 0.3]).div(0.1).softmax(0)
    torch.testing.assert_close(target[0, 1:], expected)
    assert float(target[0, 1]) > 0.29 and float(target[2, 1]) > float(target[2, 0])


def test_equal_similarities_spread_the_share_evenly_and_a_low_temperature_picks_the_nearest():
    y = torch.tensor([0])
    flat = text_relation_targets(torch.tensor([[1.0, 0.5, 0.5, 0.5]]), y, share=0.3, temperature=0.05)
    torch.testing.assert_close(flat, torch.tensor([[0.7, 0.1, 0.1, 0.1]]))
    sharp = text_relation_targets(torch.tensor([[1.0, 0.9, 0.5, 0.5]]), y, share=0.3, temperature=0.01)
    assert float(sharp[0, 1]) == pytest.approx(0.3, abs=1e-6)


def test_soft_cross_entropy_of_a_one_hot_target_is_cross_entropy():
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 3, 2, 4])
    torch.testing.assert_close(
        soft_cross_entropy(logits, F.one_hot(y, 5).float()), F.cross_entropy(logits, y)
    )


def test_the_model_trains_l_s_towards_the_relation_targets(x_ntu):
    model = build(use_jid=False, use_l2g=False, loss={"text_relation": 0.3, "text_relation_temperature": 0.1})
    y = torch.tensor([1, 3])
    similarity = torch.rand(2, 5, generator=torch.Generator().manual_seed(4))
    out = model(x_ntu)
    total, parts = model.loss(out, y, None, similarity)
    expected = soft_cross_entropy(out.logits_s, text_relation_targets(similarity, y, 0.3, 0.1))
    torch.testing.assert_close(parts["s"], expected)
    assert float(parts["s"]) != pytest.approx(
        float(F.cross_entropy(out.logits_s.detach(), y, label_smoothing=0.1))
    )
    total.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.encoder.parameters())
    with pytest.raises(ValueError, match="text_similarity"):
        model.loss(out, y)


def test_margins_raise_the_other_classes_by_their_text_similarity_to_the_label():
    y = torch.tensor([0, 2])
    margins = text_margins(SIMILARITY[y], y, scale=2.0)
    torch.testing.assert_close(margins, torch.tensor([[0.0, 1.6, 0.6], [0.6, 0.8, 0.0]]))


def test_the_model_adds_the_margins_to_l_s_alone_or_with_relation_targets(x_ntu):
    model = build(use_jid=False, use_l2g=False, loss={"text_margin": 3.0})
    y = torch.tensor([1, 3])
    similarity = torch.rand(2, 5, generator=torch.Generator().manual_seed(5))
    out = model(x_ntu)
    _, parts = model.loss(out, y, None, similarity)
    logits = out.logits_s.detach() + text_margins(similarity, y, 3.0)
    torch.testing.assert_close(parts["s"], F.cross_entropy(logits, y, label_smoothing=0.1))
    # a margin makes the loss larger than plain cross-entropy: the label must win by more
    assert float(parts["s"]) > float(F.cross_entropy(out.logits_s.detach(), y, label_smoothing=0.1))
    both = build(use_jid=False, use_l2g=False, loss={"text_margin": 3.0, "text_relation": 0.3})
    out = both(x_ntu)
    _, parts = both.loss(out, y, None, similarity)
    target = text_relation_targets(similarity, y, 0.3, 0.05)
    expected = soft_cross_entropy(out.logits_s.detach() + text_margins(similarity, y, 3.0), target)
    torch.testing.assert_close(parts["s"], expected)


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        ({"text_relation": 1.0}, "loss.text_relation"),
        ({"text_relation_temperature": 0.0}, "temperature"),
        ({"text_margin": -1.0}, "loss.text_margin"),
    ],
)
def test_out_of_range_relation_settings_are_user_errors(loss, message):
    with pytest.raises(UserError, match=message):
        ModelConfig.from_dict({"loss": loss})


def test_with_both_branches_off_the_model_is_the_base_encoder_weight_for_weight():
    """So a relation or margin run pairs with the --no-text run of its seed: one difference, the loss."""
    text_only_in_loss = build(use_jid=False, use_l2g=False, loss={"text_margin": 4.0}).state_dict()
    base = build(use_text=False).state_dict()
    assert text_only_in_loss.keys() == base.keys()
    for name, tensor in base.items():
        torch.testing.assert_close(text_only_in_loss[name], tensor, rtol=0, atol=0)
