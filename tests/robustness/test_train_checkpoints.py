"""Hostile checkpoints, exports and queries (issue #11 items 5 and 8, and eval's relative paths).

One small real run (1 epoch, with text) is trained from relative paths; copies of it are then
crafted: a pickle whose unpickling would create a file, a foreign global, an export from before
safe loading, and NaN / all-zero / one-frame / empty query files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from crossglg.cli import app
from crossglg.errors import UserError
from tests.helpers import run_script
from tests.train.conftest import BASE, PROTOCOL, RECIPE, _run_text_cli, synthetic_texts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("robust-train")]


class Payload:
    """Unpickling this runs ``touch MARKER``: the crafted part of a checkpoint or export."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def invoke(args: list[str]):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(args: list[str]) -> str:
    result = invoke(args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def user_error(args: list[str]) -> str:
    """The one-line message of the UserError ``args`` must end in."""
    result = invoke(args)
    assert isinstance(result.exception, UserError), result.output + repr(result.exception)
    message = str(result.exception)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder: data, protocol, recipe, text cache, a run trained from relative paths, an export."""
    root = tmp_path_factory.mktemp("robust-train")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        classes = ",".join(str(c) for c in sorted([*BASE, 2, 10, 20, 34, 38]))
        ok(["data", "synth", "--out", "data", "--per-class", "6", "--classes", classes, "--seed", "3"])
        Path("protocol.toml").write_text(PROTOCOL)
        Path("recipe.toml").write_text(RECIPE)
        Path("texts.jsonl").write_text("\n".join(json.dumps(r) for r in synthetic_texts(sorted(BASE))) + "\n")
        _run_text_cli(["import", "texts.jsonl", "--label", "handwritten", "--cache", "cache.db"])
        _run_text_cli(["embed", "--cache", "cache.db"])
        ok(train_args("runs/a", "--epochs", "1"))
        ok(["export", "runs/a", "--out", "export"])
    return root


def train_args(out: str, *extra: str) -> list[str]:
    return ["train", "--data", "data", "--protocol", "protocol.toml", "--config", "recipe.toml",
            "--text-cache", "cache.db", "--out", out, "--device", "cpu", "--set", "dc_samples=20", *extra]  # fmt: skip


def test_eval_from_inside_the_run_finds_its_relative_data_and_text_cache(root, monkeypatch):
    monkeypatch.chdir(root / "runs" / "a")
    summary = json.loads(ok(["eval", ".", "--json", "--out", str(root / "eval-here")]))
    assert 0.0 <= summary["cosine"] <= 1.0 and summary["n_query"] > 0


def test_resume_from_the_same_relative_arguments_is_the_same_run(root, monkeypatch):
    monkeypatch.chdir(root)
    shutil.copytree("runs/a", "runs/resumed")
    ok(train_args("runs/resumed", "--epochs", "2", "--resume"))
    state = torch.load(root / "runs" / "resumed" / "last.pt", weights_only=True)
    assert state["epoch"] == 1


def _crafted_run(root: Path, name: str, content: dict) -> Path:
    run = root / "runs" / name
    shutil.copytree(root / "runs" / "a", run)
    for ckpt in ("best.pt", "last.pt"):
        torch.save(content, run / ckpt)
    return run


def test_an_export_prints_no_torch_warning(root, monkeypatch):
    """Tracing ST-GCN's input batch norm warned, with a source line, at every ``crossglg export``."""
    monkeypatch.chdir(root)
    ok(train_args("runs/stgcn", "--epochs", "1", "--encoder", "stgcn"))
    proc = run_script("crossglg", "export", "runs/stgcn", "--out", "export-stgcn", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    assert (root / "export-stgcn" / "model.ts").is_file()


def test_a_crafted_checkpoint_runs_no_code_in_eval_export_or_resume(root, monkeypatch):
    marker = root / "pwned"
    state = torch.load(root / "runs" / "a" / "last.pt", weights_only=True)
    state["history"] = Payload(marker)
    run = _crafted_run(root, "crafted", state)
    monkeypatch.chdir(root)
    for args in (["eval", run], ["export", run], train_args("runs/crafted", "--epochs", "2", "--resume")):
        message = user_error(args)
        assert "refers to posix.system" in message and "refused" in message
        assert not marker.exists()


def test_a_foreign_checkpoint_is_one_clear_line(root):
    run = _crafted_run(root, "foreign", {"config": {}, "model": argparse.Namespace(a=1)})
    message = user_error(["eval", run])
    assert message.startswith(f"checkpoint {run / 'best.pt'}: it refers to argparse.Namespace")
    (run / "best.pt").write_bytes(b"not a checkpoint at all")
    assert "cannot be read" in user_error(["eval", run / "best.pt"])
    # a copy cut short: torch's words alone ("[Errno 22] Invalid argument") did not say what is wrong
    whole = run / "whole.pt"
    torch.save({"config": {}, "model": {"w": torch.zeros(4096)}}, whole)
    (run / "best.pt").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert user_error(["eval", run / "best.pt"]).startswith(
        f"checkpoint {run / 'best.pt'} cannot be read: cut short or damaged ("
    )
    # a text file or an empty one: torch's own words were "list index out of range" and ""
    for content in (b"root:x:0:0:root:/root:/bin/bash\n", b""):
        (run / "best.pt").write_bytes(content)
        assert user_error(["export", run / "best.pt"]) == (
            f"checkpoint {run / 'best.pt'} cannot be read: not a PyTorch file (neither a zip archive nor a pickle)"
        )


def test_a_checkpoint_config_with_bad_values_is_refused(root):
    state = torch.load(root / "runs" / "a" / "last.pt", weights_only=True)
    state["config"]["eval_batch_size"] = 0
    run = _crafted_run(root, "badconfig", state)
    assert "eval_batch_size must be >= 1" in user_error(["eval", run])
    state["config"]["surprise"] = 1
    torch.save(state, run / "best.pt")
    assert "config key 'surprise' is unknown" in user_error(["eval", run])


def _query(root: Path, name: str, seq: np.ndarray) -> Path:
    path = root / "queries" / name
    path.parent.mkdir(exist_ok=True)
    np.save(path, seq.astype(np.float32))
    return path


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def exemplars(root: Path) -> list[str]:
    from crossglg.data.prepared import open_prepared

    data = open_prepared(root / "data")
    args = []
    for k, i in enumerate((0, 6, 12)):
        path = _query(root, f"ex{k}.npy", data.sequence(i).transpose(1, 0, 2, 3))
        args += ["--exemplar", f"action{k}={path}"]
    return args


@pytest.mark.parametrize("classifier", ["cosine", "dc"])
def test_predict_refuses_what_prepare_would_skip_and_writes_strict_json(root, exemplars, classifier):
    good = _query(root, "good.npy", np.random.default_rng(0).normal(size=(20, 25, 3)))
    rows = _strict_json(
        ok(["predict", root / "export", *exemplars, good, "--json", "--classifier", classifier])
    )
    assert rows[0]["prediction"].startswith("action") and np.isfinite(rows[0]["score"])
    nan = np.random.default_rng(1).normal(size=(20, 25, 3))
    nan[4, 3, 1] = np.nan
    bad = {
        "nan.npy": (nan, "1 of 20 frames hold NaN or inf (first: frame 5) (nan)"),
        "zero.npy": (np.zeros((20, 25, 3)), "every coordinate is 0 (all-zero)"),
        "one.npy": (np.ones((1, 25, 3)), "a single frame carries no motion (one-frame)"),
        "none.npy": (np.ones((0, 25, 3)), "no frames (empty)"),
    }
    for name, (seq, message) in bad.items():
        path = _query(root, name, seq)
        got = user_error(
            ["predict", root / "export", *exemplars, good, path, "--json", "--classifier", classifier]
        )
        assert got.startswith(f"{path}: ") and message in got
        ex = [a if not a.startswith("action0=") else f"action0={path}" for a in exemplars]
        assert message in user_error(["predict", root / "export", *ex, good, "--classifier", classifier])


def test_a_crafted_export_runs_no_code(root, exemplars):
    marker = root / "pwned-export"
    export = root / "export-crafted"
    shutil.copytree(root / "export", export)
    good = _query(root, "good.npy", np.random.default_rng(0).normal(size=(20, 25, 3)))
    # the compiled programs are never loaded by predict: garbage there changes nothing
    (export / "model.pt2").write_bytes(b"garbage")
    (export / "model.ts").write_bytes(b"garbage")
    ok(["predict", export, *exemplars, good])
    torch.save({"weight": Payload(marker)}, export / "state_dict.pt")
    assert "state_dict.pt: not the file export.json describes" in user_error(
        ["predict", export, *exemplars, good]
    )
    _list_as_is(export)  # a whole crafted folder: its export.json lists the crafted file's digest
    assert "refers to posix.system" in user_error(["predict", export, *exemplars, good])
    assert not marker.exists()


def _list_as_is(export: Path) -> None:
    """Make export.json list the digests of the files as they now are, as a crafter would."""
    meta = json.loads((export / "export.json").read_text())
    meta["files"] = {name: hashlib.sha256((export / name).read_bytes()).hexdigest() for name in meta["files"]}
    (export / "export.json").write_text(json.dumps(meta))


def test_an_export_from_before_safe_loading_says_how_to_convert(root, exemplars):
    export = root / "export-old"
    shutil.copytree(root / "export", export)
    meta = json.loads((export / "export.json").read_text())
    del meta["model"]
    (export / "export.json").write_text(json.dumps(meta))
    good = _query(root, "good.npy", np.random.default_rng(0).normal(size=(20, 25, 3)))
    message = user_error(["predict", export, *exemplars, good])
    assert "export the checkpoint again: `crossglg export RUN`" in message
    meta["model"], meta["dc"] = {}, {"beta": "x"}
    (export / "export.json").write_text(json.dumps(meta))
    assert "'dc' must hold exactly" in user_error(["predict", export, *exemplars, good])


def test_every_ensemble_member_is_checked_like_the_first(root, exemplars):
    good = _query(root, "good.npy", np.random.default_rng(0).normal(size=(20, 25, 3)))
    export = root / "export"
    message = user_error(["predict", export, *exemplars, good, "--ensemble", root / "queries"])
    assert message.startswith(f"{root / 'queries'} is not an export directory")
    # the same directory spelled another way is still one model
    assert "named twice" in user_error(
        ["predict", export, *exemplars, good, "--ensemble", export / ".." / "export"]
    )
    marker = root / "pwned-member"
    member = root / "export-member"
    shutil.copytree(export, member)
    torch.save({"weight": Payload(marker)}, member / "state_dict.pt")
    _list_as_is(member)
    assert "refers to posix.system" in user_error(["predict", export, *exemplars, good, "--ensemble", member])
    assert not marker.exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"stream": "velocity"},
            "preprocess.stream must be one of joint, bone, motion or several joined by '+' (each once), got 'velocity'",
        ),
        (
            {"stream": "joint+bone"},
            "preprocess.stream='joint+bone' feeds 6 channels, model.encoder.in_channels is 3",
        ),
        ({"test_ratio": 0}, "preprocess.test_ratio must be in (0, 1], got 0"),
        ({"test_ratio": "0.9"}, "preprocess.test_ratio='0.9' is not float"),
        ({"center": 1}, "preprocess.center=1 is not bool"),
        ({"evil": 1}, "preprocess.evil is not a test-time setting"),
        ([1, 2], "'preprocess' must be a table of test-time settings"),
    ],
)
def test_a_crafted_test_time_pipeline_is_named_in_one_line(root, exemplars, table, message):
    export = root / "export-pipeline"
    shutil.rmtree(export, ignore_errors=True)
    shutil.copytree(root / "export", export)
    meta = json.loads((export / "export.json").read_text())
    meta["preprocess"] = table
    (export / "export.json").write_text(json.dumps(meta))
    good = _query(root, "good.npy", np.random.default_rng(0).normal(size=(20, 25, 3)))
    assert user_error(["predict", export, *exemplars, good]).startswith(
        f"{export / 'export.json'}: {message}"
    )


def _one_error_line(proc) -> str:
    """The single ``error:`` line of a refused command (exit 2, no trace, no ``internal error``)."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0].removeprefix("error: ")


def _nan_weight(state: dict) -> None:
    state["model"]["head.fc.weight"][0, 0] = float("nan")


def _wrong_shape(state: dict) -> None:
    key = next(k for k, v in state["model"].items() if v.ndim == 2)
    state["model"][key] = torch.zeros(3, 3)


# a checkpoint holds plain data of any shape: each field crossglg reads is checked before it is used
DAMAGED_FIELDS = {
    # int("x") was an internal error; -5 would have resumed at epoch -4
    "epoch not a number": (lambda s: s.update(epoch="x"), "field 'epoch' must be an integer in 0..99999"),
    "epoch negative": (lambda s: s.update(epoch=-5), "field 'epoch' must be an integer in 0..99999"),
    "model not a mapping": (lambda s: s.update(model=[1, 2]), "field 'model' must be a non-empty mapping"),
    # torch's load_state_dict error, a paragraph, ended as an internal error
    "extra weight": (
        lambda s: s["model"].update(zzz=torch.zeros(1)),
        'its weights do not fit its model (Unexpected key(s) in state_dict: "zzz"',
    ),
    "weight of another shape": (_wrong_shape, "its weights do not fit its model (size mismatch for "),
    # every read-out became a tie broken by index order, printed as an accuracy
    "NaN weight": (_nan_weight, "weight 'head.fc.weight' holds NaN or infinite values"),
    "history not a list": (
        lambda s: s.update(history="x"),
        "field 'history' must be a list of per-epoch rows",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGED_FIELDS))
def test_a_checkpoint_with_a_damaged_field_is_one_line_naming_it(root, case):
    change, message = DAMAGED_FIELDS[case]
    state = torch.load(root / "runs" / "a" / "last.pt", weights_only=True)
    change(state)
    run = _crafted_run(root, f"damaged-{case.replace(' ', '-')}", state)
    line = _one_error_line(
        run_script("crossglg", "eval", run, "--out", run / "ev", "--device", "cpu", cwd=root)
    )
    assert line.startswith(f"checkpoint {run / 'best.pt'}: ") and message in line, line
    assert not (run / "ev").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # history "x" failed only after an epoch had been trained, in the metrics writer
        (lambda s: s.update(history="x"), "field 'history' must be a list of per-epoch rows"),
        (
            lambda s: s["optimizer"].update(param_groups=[]),
            "its optimizer state does not fit this run (ValueError: loaded state dict has a different number",
        ),
    ],
)
def test_a_resume_from_a_damaged_checkpoint_is_refused_before_an_epoch(root, change, message):
    state = torch.load(root / "runs" / "a" / "last.pt", weights_only=True)
    change(state)
    name = f"resume-damaged-{len(list((root / 'runs').glob('resume-damaged-*')))}"
    run = _crafted_run(root, name, state)
    before = {f: (run / f).read_bytes() for f in ("last.pt", "best.pt", "metrics.csv")}
    proc = run_script("crossglg", *train_args(f"runs/{name}", "--epochs", "2", "--resume"), cwd=root)
    line = _one_error_line(proc)
    assert line.startswith(f"checkpoint runs/{name}/last.pt: ") and message in line, line
    assert {f: (run / f).read_bytes() for f in before} == before  # nothing trained, nothing replaced


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # an allocation of 10**9 frames per query ran until the kernel killed the process
        (lambda m: m.update(frames=10**9), "'frames' must be in 1..100000, got 1000000000"),
        (lambda m: m.update(persons=10**6), "'persons' must be in 1..16, got 1000000"),
        # the input BatchNorm is sized by num_person: a RuntimeError at the first query
        (lambda m: m.update(persons=1), "'persons' is 1 but model.encoder.num_person is 2"),
        # bool("yes") is True: taken as a switch, and the file was not named
        (lambda m: m["model"].update(use_jid="yes"), "model config: use_jid='yes' is not bool"),
        (lambda m: m["model"]["encoder"].update(base_channels=-3), "encoder.base_channels must be >= 1"),
    ],
)
def test_a_crafted_export_description_is_one_line_naming_export_json(root, exemplars, change, message):
    export = root / "export-meta"
    shutil.rmtree(export, ignore_errors=True)
    shutil.copytree(root / "export", export)
    meta = json.loads((export / "export.json").read_text())
    change(meta)
    (export / "export.json").write_text(json.dumps(meta))
    good = _query(root, "good.npy", np.random.default_rng(0).normal(size=(20, 25, 3)))
    line = _one_error_line(run_script("crossglg", "predict", export, *exemplars, good, timeout=120))
    assert line.startswith(f"{export / 'export.json'}: ") and message in line, line
