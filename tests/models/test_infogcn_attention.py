"""InfoGCN's SA-GC: the fused per-frame form computes what the reference's per-head loop does."""

from __future__ import annotations

import pytest
import torch

from bench.reference_infogcn import ReferenceSAGC
from crossglg.errors import UserError
from crossglg.models import build_model
from crossglg.models.graph import three_subsets
from crossglg.models.infogcn import SelfAttentionGraphConv
from crossglg.vocab.layouts import get_layout

from .conftest import make_input


def copy_reference_weights(ours: SelfAttentionGraphConv, ref: ReferenceSAGC) -> None:
    """Per-head convs become column blocks of the one mixing conv; their biases add up."""
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith("convs.")}
    state["mix.weight"] = torch.cat([conv.weight for conv in ref.convs], dim=1)
    state["mix.bias"] = sum(conv.bias for conv in ref.convs)
    ours.load_state_dict(state)


@pytest.mark.parametrize("cin,cout", [(16, 16), (16, 32)])
def test_per_frame_sagc_equals_the_reference_head_loop(cin, cout):
    topology = torch.from_numpy(three_subsets(get_layout("ntu25")))
    torch.manual_seed(0)
    ref = ReferenceSAGC(cin, cout, topology)
    with torch.no_grad():  # a non-trivial BN, topology and bias so every term matters
        ref.bn.weight.uniform_(0.5, 1.5)
        ref.topology.add_(torch.rand_like(ref.topology))
        for conv in ref.convs:
            conv.bias.normal_()
    ours = SelfAttentionGraphConv(cin, cout, topology, per_frame=True)
    copy_reference_weights(ours, ref)
    x = torch.randn(3, cin, 6, 25)
    ref.eval(), ours.eval()
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)

    pooled = SelfAttentionGraphConv(cin, cout, topology, per_frame=False)
    pooled.load_state_dict(ours.state_dict())
    assert not torch.allclose(pooled.eval()(x), ref(x), atol=1e-3)  # the default is a different function


def test_attention_choice_builds_per_frame_blocks_with_the_same_parameters():
    pooled = build_model("infogcn", "ntu25", 10, {"use_text": False})
    frame = build_model("infogcn", "ntu25", 10, {"use_text": False, "encoder": {"attention": "frame"}})
    assert all(block.gcn.per_frame for block in frame.encoder.blocks)
    assert not any(block.gcn.per_frame for block in pooled.encoder.blocks)
    assert sum(p.numel() for p in frame.parameters()) == sum(p.numel() for p in pooled.parameters())
    frame.load_state_dict(pooled.state_dict())
    out = frame(make_input("ntu25"), None)
    assert out.logits_s.shape == (2, 10)


def test_unknown_attention_form_is_a_config_error():
    with pytest.raises(UserError, match=r"encoder\.attention='perframe'; choose pooled or frame"):
        build_model("infogcn", "ntu25", 10, {"encoder": {"attention": "perframe"}})
