"""Hostile configuration values and command-line numbers (issue #11): refused before any work starts.

Every case points ``--data`` at a folder that does not exist: a bad value must be reported
before the data is even opened, let alone trained on.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crossglg.cli import app
from crossglg.errors import UserError

TRAIN = ["train", "--data", "no-such-data", "--protocol", "synthetic", "--no-text", "--out", "never"]


def _config_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, UserError), result.output + repr(result.exception)
    return str(result.exception)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("dc_beta='x'", "config: dc_beta='x' is not float"),
        ("eval_batch_size=0", "config: eval_batch_size must be >= 1 and <= 1000000, got 0"),
        ("lr=nan", "config: lr=nan must be a finite number"),
        ("momentum=1.5", "config: momentum must be >= 0 and <= 1, got 1.5"),
        ("dc_samples=true", "config: dc_samples=True is not int"),
        ("lr_steps=[0, 40]", "config: lr_steps must be a list of epochs >= 1, got [0, 40]"),
        ("text_lr_mult=0", "config: text_lr_mult must be > 0, got 0"),
        ("model.encoder.base_channels=0", "model config: encoder.base_channels must be >= 1, got 0"),
        ("model.l2g.dropout=1.0", "model config: l2g.dropout must be >= 0 and <= 0.999, got 1.0"),
        ("model.jid.n_pre='5'", "model config: jid.n_pre='5' is not int | None"),
        ("model.loss.w_c=-1", "model config: loss.w_c must be >= 0, got -1"),
        # past any real run: these passed the dry run and failed (or allocated) only once training began
        (
            "epochs=99999999999999999999",
            "config: epochs must be >= 1 and <= 100000, got 99999999999999999999",
        ),
        ("frames=10000000000", "config: frames must be >= 1 and <= 100000, got 10000000000"),
        (
            "model.jid.hidden_mult=99999999999",
            "model config: jid.hidden_mult must be >= 1 and <= 256, got 99999999999",
        ),
        # bool("false") is True: the quoted switch turned the JID on while it was meant off
        ("model.use_jid='false'", "model config: use_jid='false' is not bool (true or false, unquoted)"),
        ("model.head_input=1", "model config: head_input=1 is not str"),
        # every encoder pads (k - 1) / 2 frames a side: an even kernel failed at the first batch
        ("model.encoder.temporal_kernel=4", "model config: encoder.temporal_kernel must be odd, got 4"),
    ],
)
def test_a_bad_set_value_is_one_line_naming_the_key_before_any_work(setting, message):
    assert _config_error([*TRAIN, "--set", setting]) == message


def test_a_bad_value_in_a_config_file_is_refused_the_same_way(tmp_path):
    (tmp_path / "c.toml").write_text('epochs = "ten"\n')
    assert _config_error([*TRAIN, "--config", str(tmp_path / "c.toml")]) == "config: epochs='ten' is not int"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--encoder", "infogcn", "--set", "encoder=stgcn"],
            "--set encoder='stgcn' and --encoder 'infogcn' disagree",
        ),
        (["--epochs", "5", "--set", "epochs=6"], "--set epochs=6 and --epochs 5 disagree; give epochs once"),
        (["--set", "no_text=false"], "--set no_text=False and --no-text True disagree; give no_text once"),
    ],
)
def test_an_option_and_a_set_that_disagree_are_refused(args, message):
    """The option used to win in silence: a run labelled ST-GCN trained InfoGCN."""
    assert message in _config_error([*TRAIN, *args])


def test_an_option_and_a_set_that_agree_are_one_value() -> None:
    args = [*TRAIN, "--encoder", "stgcn", "--set", "encoder=stgcn", "--print-config", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["encoder"] == "stgcn"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([*TRAIN, "--epochs", "0"], "--epochs"),
        ([*TRAIN, "--epochs", "100001"], "--epochs"),
        ([*TRAIN, "--batch-size", "1000001"], "--batch-size"),
        ([*TRAIN, "--batch-size", "0"], "--batch-size"),
        ([*TRAIN, "--lr", "nan"], "--lr"),
        ([*TRAIN, "--lr", "-0.1"], "--lr"),
        ([*TRAIN, "--lr", "inf"], "--lr"),
        ([*TRAIN, "--seed", "-1"], "--seed"),
        (["eval", "no-such-run", "--shots", "0"], "--shots"),
        (["transfer", "no-export", "--data", "d", "--protocol", "p", "--seed", "-2"], "--seed"),
        (["data", "prepare", "src", "--format", "generic", "--out", "o", "--workers", "-1"], "--workers"),
        (["data", "synth", "--out", "o", "--per-class", "0"], "--per-class"),
        (["data", "synth", "--out", "o", "--second-person", "nan"], "--second-person"),
        (["data", "synth", "--out", "o", "--second-person", "1.5"], "--second-person"),
        (["baseline", "dtw", "--data", "d", "--protocol", "p", "--frames", "0"], "--frames"),
        (["model-info", "--frames", "0"], "--frames"),
        (["model-info", "--jid-hidden-mult", "0"], "--jid-hidden-mult"),
    ],
)
def test_every_number_is_checked_when_the_command_line_is_parsed(args, option):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert "Invalid value" in result.output and option in result.output
