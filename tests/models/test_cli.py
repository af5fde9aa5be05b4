"""``crossglg model-info``: the commands shown in docs/MODELS.md."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crossglg.cli import app
from crossglg.errors import UserError

runner = CliRunner()


def test_model_info_json_values():
    result = runner.invoke(
        app, ["model-info", "--encoder", "infogcn", "--layout", "ntu25", "--frames", "8", "--json"]
    )
    assert result.exit_code == 0, result.output
    (info,) = json.loads(result.stdout)
    assert info["encoder"] == "infogcn" and info["n_pre"] == 5 and info["jid_hidden"] == 512
    assert info["jid_params"] == 128 * 512 + 512 + 512 + 1
    assert info["crossglg_inference_params"] == info["base_inference_params"] + info["jid_params"]
    assert info["crossglg_params"] == info["base_params"] + info["jid_params"] + info["l2g_params"]
    assert info["inference_overhead"] <= 0.07  # the budget
    # the JID's two linear layers on 2 persons x 25 joints, 2 FLOPs per multiply-add
    jid_flops = 2 * 2 * 25 * (128 * 512 + 512)
    assert info["crossglg_inference_flops"] - info["base_inference_flops"] == jid_flops
    assert info["crossglg_train_flops"] > info["crossglg_inference_flops"]


@pytest.mark.slow
def test_model_info_all_encoders_table():
    """The exact command of docs/MODELS.md (64 frames, 2 persons)."""
    result = runner.invoke(app, ["model-info", "--encoder", "all", "--layout", "ntu25"])
    assert result.exit_code == 0, result.output
    for word in ("infogcn", "stgcn", "ctrgcn", "inference overhead", "+4.7 %", "GFLOPs"):
        assert word in result.stdout
    result = runner.invoke(app, ["model-info", "--encoder", "all", "--layout", "ntu25", "--json"])
    infos = json.loads(result.stdout)
    assert [i["encoder"] for i in infos] == ["infogcn", "stgcn", "ctrgcn"]
    assert all(i["frames"] == 64 and i["persons"] == 2 for i in infos)
    assert all(i["inference_overhead"] <= 0.07 for i in infos)


def test_model_info_jid_hidden_mult_of_method_md():
    """The docs' comparison command: H = 8·C gives 133k JID parameters, +9.5 % on InfoGCN."""
    result = runner.invoke(
        app, ["model-info", "--encoder", "infogcn", "--layout", "ntu25", "--jid-hidden-mult", "8"]
    )
    assert result.exit_code == 0, result.output
    assert "5 / 1024" in result.stdout and "+9.5 %" in result.stdout and "0.133M" in result.stdout


def test_model_info_other_layout_short_options():
    result = runner.invoke(
        app, ["model-info", "-e", "stgcn", "-l", "kinect20", "--frames", "8", "--parts", "joints", "--json"]
    )
    (info,) = json.loads(result.stdout)
    assert info["layout"] == "kinect20" and info["n_pre"] == 6 and info["text_tokens"] == 20
    assert info["jid_params"] == 66_561


def test_model_info_counts_a_joined_stream_with_its_input_channels():
    """InfoGCN maps each joint's input channels to its width (64) with one linear layer: a
    9-channel joint+bone+motion input adds 6 × 64 weights and nothing else."""
    infos = {}
    for stream in ("joint", "joint+bone+motion"):
        args = ["model-info", "-e", "infogcn", "-l", "ntu25", "--frames", "8", "--stream", stream, "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        (infos[stream],) = json.loads(result.stdout)
    joint, joined = infos["joint"], infos["joint+bone+motion"]
    assert joined["base_params"] - joint["base_params"] == 6 * 64
    assert joined["base_inference_params"] - joint["base_inference_params"] == 6 * 64
    assert joined["jid_params"] == joint["jid_params"] and joined["l2g_params"] == joint["l2g_params"]
    assert joined["base_inference_flops"] > joint["base_inference_flops"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--encoder", "resnet"], "--encoder 'resnet'"),
        (["--layout", "ntu18"], "ntu18"),
        (
            ["--stream", "joint+joint"],
            "--stream 'joint+joint': must be one of joint, bone, motion or several",
        ),
    ],
)
def test_model_info_bad_input_is_a_user_error(args, message):
    result = runner.invoke(app, ["model-info", *args])
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception)


def test_model_info_bad_numbers_are_usage_errors():
    result = runner.invoke(app, ["model-info", "--frames", "0"])
    assert result.exit_code == 2 and "Invalid value" in result.output and "--frames" in result.output


def test_model_info_help_lists_every_option():
    result = runner.invoke(app, ["model-info", "--help"])
    assert result.exit_code == 0
    for option in (
        "--encoder",
        "--layout",
        "--num-classes",
        "--frames",
        "--persons",
        "--text-dim",
        "--parts",
        "--stream",
        "--json",
    ):
        assert option in result.stdout


def test_model_info_counts_what_a_real_forward_computes():
    """The shape-only count equals a real forward pass in training mode (where no fused attention
    kernel hides the L2G attention from the counter), and the inference count an eval-mode pass."""
    import torch

    from crossglg.models.config import ModelConfig
    from crossglg.models.model import build_model
    from crossglg.models.report import count_flops, model_info

    info = model_info("stgcn", "ntu25", 10, frames=8, persons=2)
    data = ModelConfig().to_dict()
    data["encoder"]["num_person"] = 2
    full = build_model(
        "stgcn", "ntu25", 10, ModelConfig.from_dict({**data, "use_jid": True, "use_l2g": True})
    )
    x = torch.randn(1, 3, 8, 25, 2)
    text = torch.randn(1, len(full.part_names), 384)
    assert info.crossglg_train_flops == count_flops(full.train(), x, text)
    assert info.crossglg_inference_flops == count_flops(full.eval().embed, x)


def test_model_info_counts_the_largest_frame_count_and_scales():
    """--frames 100000 used to run a real forward pass (an hour, tens of GiB); the count is linear
    in frames apart from the classifier and text heads."""
    small = runner.invoke(app, ["model-info", "-e", "stgcn", "--frames", "1000", "--json"])
    large = runner.invoke(app, ["model-info", "-e", "stgcn", "--frames", "100000", "--json"])
    assert small.exit_code == large.exit_code == 0, small.output + large.output
    (a,), (b,) = json.loads(small.stdout), json.loads(large.stdout)
    assert b["base_inference_flops"] / a["base_inference_flops"] == pytest.approx(100, rel=1e-3)
