"""Hostile command-line input to the trainer's commands, through the installed ``crossglg`` script.

A device torch cannot use, a size no machine can allocate, an empty ``--out``, a label that
would colour the terminal, a checkpoint torch warns about: each is one line naming what to
change and exit 2, refused before any data is read, never a traceback, a torch warning or the
``internal error`` line that claims a bug.
"""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import pytest
import torch

from crossglg.cli_support import checked_device
from crossglg.errors import UserError
from tests.helpers import run_script

# every path is missing: a bad value must be refused before any input is opened
TRAIN = ["train", "--data", "no-such-data", "--protocol", "synthetic", "--no-text", "--out", "never"]


def crossglg(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script("crossglg", *args, cwd=tmp_path, env={"COLUMNS": "200"})


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line a refused command printed, after checking it printed nothing else."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0].removeprefix("error: ")


def usage_error(proc: subprocess.CompletedProcess[str], option: str) -> str:
    """click's ``Error:`` line for ``option``; the usage line and help hint come before it."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and f"Invalid value for '{option}'" in errors[0], proc.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*TRAIN, "--device", "bogus"], "--device 'bogus': not a device; this machine has "),
        ([*TRAIN, "--device", "meta"], "--device 'meta': not a device; this machine has "),
        ([*TRAIN, "--device", "bogus", "--dry-run"], "--device 'bogus': not a device; this machine has "),
        ([*TRAIN, "--set", "device=bogus", "--dry-run"], "config: device 'bogus': not a device; "),
        (["eval", "no-such-run", "--device", "bogus"], "--device 'bogus': not a device; this machine has "),
        ([*TRAIN, "--device", "cuda:99"], "--device 'cuda:99': no "),  # no CUDA here, or no 100th GPU
        (["eval", "no-such-run", "--device", "cuda:99"], "--device 'cuda:99': no "),
    ],
)
def test_a_device_torch_cannot_use_is_one_line_before_any_work(tmp_path, args, message):
    assert one_error(crossglg(tmp_path, *args)).startswith(message)


def _pretend_gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.mark.parametrize(("value", "expected"), [("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1")])
def test_a_device_this_machine_has_is_kept(monkeypatch, value, expected):
    """On a two-GPU machine (pretended, so that the check holds on any test machine)."""
    _pretend_gpus(monkeypatch, 2)
    assert checked_device(value, "--device") == expected


def test_a_gpu_past_the_last_names_the_ones_there_are(monkeypatch):
    _pretend_gpus(monkeypatch, 2)
    with pytest.raises(UserError) as err:
        checked_device("cuda:2", "--device")
    assert str(err.value).startswith(
        "--device 'cuda:2': no such CUDA device; this machine has cpu, cuda:0, cuda:1"
    )


def test_cuda_without_a_gpu_says_so(monkeypatch):
    _pretend_gpus(monkeypatch, 0)
    with pytest.raises(UserError, match=r"^--device 'cuda': no CUDA device here; this machine has cpu"):
        checked_device("cuda", "--device")


@pytest.mark.parametrize(
    ("option", "value"),
    [("--num-classes", "999999999999"), ("--text-dim", "99999999999"), ("--jid-hidden-mult", "99999999999")],
)
def test_a_model_size_no_machine_can_allocate_is_refused_when_parsed(tmp_path, option, value):
    line = usage_error(crossglg(tmp_path, "model-info", "--encoder", "stgcn", option, value), option)
    assert "less than or equal to" in line


@pytest.mark.parametrize(
    "command",
    [
        TRAIN[:-2],
        ["eval", "no-such-run"],
        ["export", "no-such-run"],
        ["data", "prepare", "no-such-source", "--format", "generic"],
        ["data", "synth"],
        ["demo"],
        ["transfer", "no-such-export", "--data", "no-such-data", "--protocol", "utkinect-all10"],
    ],
    ids=["train", "eval", "export", "prepare", "synth", "demo", "transfer"],
)
def test_an_empty_out_is_refused_not_the_current_folder(tmp_path, command):
    """``Path("")`` is ``.``: the command used to write its files wherever it was started."""
    line = usage_error(crossglg(tmp_path, *command, "--out", ""), "--out")
    assert "empty" in line
    assert not any(tmp_path.iterdir())


def test_an_empty_out_in_a_config_file_is_refused(tmp_path):
    (tmp_path / "c.toml").write_text('out = ""\n')
    message = one_error(crossglg(tmp_path, *TRAIN[:-2], "--config", "c.toml", "--dry-run"))
    assert message.startswith("config: 'out' is empty")


def test_a_label_with_control_characters_never_reaches_the_terminal(tmp_path):
    proc = crossglg(tmp_path, "predict", "no-export", "q.npy", "-e", "a\x1b[31mRED\x07=e.npy")
    message = one_error(proc)
    assert "\x1b" not in proc.stderr + proc.stdout and "\x07" not in proc.stderr
    assert (
        message == r"--exemplar 'a\x1b[31mRED\x07=e.npy': the name holds control characters; use plain text"
    )


def test_a_pickle_torch_warns_about_is_one_line(tmp_path):
    """torch's UserWarning on pickle protocol 4, with its own source line, came before our verdict."""
    with open(tmp_path / "p4.pt", "wb") as fh:
        pickle.dump({"config": {}, "model": {}}, fh, protocol=4)
    message = one_error(crossglg(tmp_path, "eval", "p4.pt", "--out", "ev"))
    assert message.startswith("checkpoint p4.pt cannot be read")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('model.use_l2g="false"', "model config: use_l2g='false' is not bool (true or false, unquoted)"),
        ("model.encoder.temporal_kernel=6", "model config: encoder.temporal_kernel must be odd, got 6"),
    ],
)
def test_a_model_setting_that_would_fail_or_mislead_in_training_is_refused_first(tmp_path, setting, message):
    """A quoted "false" was taken as true (the L2G stayed on); an even kernel passed the dry run and
    ended as an internal error at the first batch, once the run folder was made."""
    (tmp_path / "d").mkdir()
    proc = crossglg(tmp_path, "train", "--data", "d", "--protocol", "synthetic", "--no-text", "--out", "run",
                    "--device", "cpu", "--set", setting)  # fmt: skip
    assert one_error(proc) == message
    assert not (tmp_path / "run").exists()
