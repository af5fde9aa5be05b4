"""bench/dtw_learned_weights.py's text-gated metric (docs/RESULTS.md, "Class texts in the learned metric")."""

from __future__ import annotations

import numpy as np
import torch

from bench.dtw_learned_weights import TextGated
from crossglg.vocab.layouts import get_layout


def test_the_share_decides_how_far_each_class_text_scales_its_joints() -> None:
    gate = TextGated(get_layout("msr20"), shuffled_text=False)
    gate.weight.data = torch.linspace(0.5, 1.5, 60)
    labels = np.array([0, 5, 9])  # a01, a06, a10
    torch.testing.assert_close(gate.scales(labels), gate.weight.expand(3, -1))  # share 0: text unused
    gate.share.data = torch.tensor(1.0)
    k = torch.stack([gate.texts[c] for c in (1, 6, 10)])
    torch.testing.assert_close(gate.scales(labels), gate.weight * (20 * k).repeat_interleave(3, dim=1))
    gate.share.data = torch.tensor(3.0)  # the share is held in [0, 1]
    torch.testing.assert_close(gate.scales(labels), gate.weight * (20 * k).repeat_interleave(3, dim=1))


def test_shuffled_texts_give_every_class_another_class_text() -> None:
    layout = get_layout("msr20")
    real, shuffled = TextGated(layout, False).texts, TextGated(layout, True).texts
    assert sorted(real) == sorted(shuffled) == list(range(1, 21))
    owners = {c: [d for d in real if torch.equal(real[d], shuffled[c])] for c in shuffled}
    assert all(c not in found and found for c, found in owners.items())
