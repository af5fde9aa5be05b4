"""Export without text, predict from exemplar files, DDP on gloo, and the GPU bench script on CPU."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import run_script

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")

# runs in a fresh interpreter: load the export, embed, and list what got imported
_LOAD_EXPORT = """
import json, sys
import numpy as np
from crossglg.train.export import ExportedModel
seqs = [np.load(p) for p in sys.argv[2:]]
z, k = ExportedModel(sys.argv[1]).embed(seqs)
np.save(sys.argv[1] + "/z_check.npy", z)
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("crossglg", "sentence_transformers", "transformers")))))
"""


def _as_generic(seq: np.ndarray) -> np.ndarray:
    """Prepared [T, M, V, 3] → the generic per-sample file layout [M, T, V, 3]."""
    return np.ascontiguousarray(seq.transpose(1, 0, 2, 3))


def test_export_runs_without_text_modules_and_gives_the_same_embeddings(small, run_cli, train_args, tmp_path):
    from crossglg.data.prepared import open_prepared
    from crossglg.data.preprocess import PreprocessConfig, preprocess
    from crossglg.train.checkpoint import load
    from crossglg.train.config import TrainConfig
    from crossglg.train.distributed import Dist
    from crossglg.train.session import build_session

    run = tmp_path / "run"
    # fed joints and frame-to-frame motion (6 channels): the export must transform its input as
    # training did
    run_cli(train_args(run, "--epochs", "2", "--set", "dc_samples=20", "--set", "input_stream=joint+motion"))
    info = json.loads(run_cli(["export", str(run), "--json"]))
    export = Path(info["export"])
    meta = json.loads((export / "export.json").read_text())
    assert meta["text_trained"] and meta["layout"] == "ntu25" and meta["frames"] == 24
    assert meta["preprocess"]["stream"] == "joint+motion" and meta["model"]["encoder"]["in_channels"] == 6
    assert meta["parameters"] < meta["training_parameters"]

    data = open_prepared(small["data"])
    files = []
    for i in range(6):
        files.append(tmp_path / f"{data.names[i]}.npy")
        np.save(files[-1], data.sequence(i))
    # predict never loads the compiled programs (they are code: docs/SECURITY.md), so a copy
    # without model.pt2 embeds the same
    ts_only = tmp_path / "ts-only"
    shutil.copytree(export, ts_only)
    (ts_only / "model.pt2").unlink()
    for where in (export, ts_only):
        proc = subprocess.run(
            [sys.executable, "-c", _LOAD_EXPORT, str(where), *map(str, files)],
            capture_output=True, text=True, env=ENV, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        loaded = json.loads(proc.stdout.strip().splitlines()[-1])
        for banned in ("crossglg.embeddings", "crossglg.textgen", "crossglg.cache"):
            assert not any(m == banned or m.startswith(banned + ".") for m in loaded), banned
        assert not any(m.startswith(("sentence_transformers", "transformers")) for m in loaded)

    # the same sequences through the training model's text-free embed()
    state = load(run / "best.pt")
    s = build_session(TrainConfig(**state["config"]), Dist(), "cpu", for_training=False)
    s.model.load_state_dict(state["model"])
    s.model.eval()
    cfg = PreprocessConfig(frames=24, persons=2, stream="joint+motion")
    x = preprocess([data.sequence(i) for i in range(6)], layout="ntu25", config=cfg).x
    with torch.no_grad():
        expected = s.model.embed(x).numpy()
    for where in (export, ts_only):
        np.testing.assert_allclose(np.load(where / "z_check.npy"), expected, rtol=1e-4, atol=1e-5)


def test_predict_classifies_files_among_exemplar_actions(small, run_cli, train_args, tmp_path):
    from crossglg.data.prepared import open_prepared
    from crossglg.errors import UserError

    run = tmp_path / "run"
    run_cli(train_args(run, "--epochs", "1", "--set", "dc_samples=20", text=False))
    export = tmp_path / "export"
    run_cli(["export", str(run / "last.pt"), "--out", str(export)])
    data = open_prepared(small["data"])
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_class.setdefault(int(label) + 1, []).append(i)
    actions = {"wave left hand": 2, "kick left leg": 20, "shake head": 34}
    args = ["predict", str(export), "--json"]
    files = {}
    for name, c in actions.items():
        path = tmp_path / f"{name.replace(' ', '_')}.npy"
        np.save(path, _as_generic(data.sequence(by_class[c][0])))
        files[name] = path
        args += ["--exemplar", f"{name}={path}"]
    rows = json.loads(run_cli([*args, *map(str, files.values())]))
    # an exemplar given as a query is its own nearest exemplar (cosine 1)
    assert [r["prediction"] for r in rows] == list(actions)
    assert all(r["score"] == pytest.approx(1.0, abs=1e-5) for r in rows)
    assert set(rows[0]["similarities"]) == set(actions)
    rows = json.loads(run_cli([*args, "--classifier", "dc", str(files["shake head"])]))
    assert rows[0]["prediction"] in actions
    # every other read-out also finds an exemplar given as a query (DTW distance 0, cosine 1)
    for readout in ("cl2n", "fdtw", "jfdtw", "dtw", "ndtw", "fused"):
        rows = json.loads(run_cli([*args, "--classifier", readout, *map(str, files.values())]))
        assert [r["prediction"] for r in rows] == list(actions), readout
        assert all(r["classifier"] == readout for r in rows)
    # a file name is printed escaped: its escape sequence never reaches the terminal
    evil = tmp_path / "q\x1b[2Jx.npy"
    shutil.copyfile(files["shake head"], evil)
    res = run_script("crossglg", *[a for a in args if a != "--json"], evil)
    assert res.returncode == 0 and "\x1b" not in res.stdout, res.stderr
    assert "q\\x1b[2Jx.npy\tshake head\t1.000" in res.stdout
    meta = json.loads((export / "export.json").read_text())
    with np.load(export / "base_stats.npz") as f:
        assert meta["format"] == "crossglg-export/2" and f["aux_mean"].shape == (meta["embed_dim"],)
        joint_mean = f["aux_joint_mean"]
    # the per-joint centre: one vector per joint of the layout, averaging to the pooled centre
    # (InfoGCN's z_s has embed_dim channels, the last block's features as many before its fc)
    from crossglg.vocab.layouts import get_layout

    assert joint_mean.shape[0] == get_layout(meta["layout"]).num_joints
    np.testing.assert_allclose(joint_mean.mean(0), f_mean := np.load(export / "base_stats.npz")["aux_mean"],
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    assert np.abs(f_mean).sum() > 0
    with pytest.raises(UserError, match="one read-out"):
        run_cli([*args, "--classifier", "all", str(files["shake head"])])
    # coordinate weights (crossglg baseline dtw --save-weights; a random file here) reach the joint
    # read-out: each action scores minus the baseline's weighted, calibrated DTW distance
    from crossglg.baselines.dtw import Matching, class_distances, normalise
    from crossglg.baselines.dtw_weights import LearnedWeights

    layout = get_layout(meta["layout"])
    w = np.random.default_rng(0).uniform(0.0, 2.0, (layout.num_joints, 3))
    LearnedWeights(layout.name, tuple(map(tuple, w.tolist())), False, (1,), 1).save(tmp_path / "w.json")
    query = tmp_path / "query.npy"  # a kick that is not the exemplar
    np.save(query, _as_generic(data.sequence(by_class[20][1])))
    (row,) = json.loads(run_cli([*args, "--classifier", "ndtw", "--dtw-weights", str(tmp_path / "w.json"),
                                 str(query)]))  # fmt: skip
    ex = np.stack([normalise(data.sequence(by_class[c][0]), layout) for c in actions.values()])
    q = normalise(data.sequence(by_class[20][1]), layout)[None]
    _, d = class_distances(q, ex, np.arange(3), True, Matching(weights=tuple(w.reshape(-1))))
    np.testing.assert_allclose([row["similarities"][a] for a in actions], -d[0], rtol=1e-6)


def test_predict_with_an_ensemble_averages_each_exports_standardised_scores(
    small, run_cli, train_args, tmp_path
):
    """Two exports of different input streams: the ensemble's score of each action is the mean of
    the members' own scores standardised over the actions, and the exemplars still find themselves."""
    from crossglg.data.prepared import open_prepared
    from crossglg.errors import UserError
    from crossglg.train.oneshot import standardise

    exports = []
    for name, stream in (("joint", "joint"), ("motion", "motion")):
        run = tmp_path / name
        run_cli(train_args(run, "--epochs", "1", "--set", f"input_stream={stream}", text=False))
        exports.append(tmp_path / f"export-{name}")
        run_cli(["export", str(run / "last.pt"), "--out", str(exports[-1])])
    data = open_prepared(small["data"])
    args, files = [], []
    labels = np.asarray(data.labels)
    for c in (2, 20, 34):
        files.append(tmp_path / f"a{c}.npy")
        np.save(files[-1], _as_generic(data.sequence(int(np.flatnonzero(labels == c - 1)[0]))))
        args += ["--exemplar", f"a{c}={files[-1]}"]
    query = tmp_path / "query.npy"  # a clip that is none of the exemplars
    np.save(query, _as_generic(data.sequence(int(np.flatnonzero(labels == 19)[1]))))
    for readout in ("cosine", "jfdtw", "fused"):
        common = [*args, "--classifier", readout, "--json", *map(str, files), str(query)]
        single = [json.loads(run_cli(["predict", str(e), *common])) for e in exports]
        both = json.loads(run_cli(["predict", str(exports[0]), "--ensemble", str(exports[1]), *common]))
        assert [r["models"] for r in both] == [2] * 4 and single[0][0]["models"] == 1
        assert [r["prediction"] for r in both[:3]] == ["a2", "a20", "a34"], readout
        for i, row in enumerate(both):
            actions = list(row["similarities"])
            own = [standardise(np.array([[s[i]["similarities"][a] for a in actions]]))[0] for s in single]
            np.testing.assert_allclose([row["similarities"][a] for a in actions], np.mean(own, 0), atol=1e-9)
    with pytest.raises(UserError, match="named twice"):
        run_cli(["predict", str(exports[0]), "--ensemble", str(exports[0]), *args, str(query)])

    # export.json lists each file's SHA-256; one export's statistics beside another's description
    # (a crash or a copy between files; the shapes agree, so it used to load in silence) is one line
    meta = json.loads((exports[0] / "export.json").read_text())
    assert sorted(meta["files"]) == ["base_stats.npz", "model.pt2", "model.ts", "state_dict.pt"]
    for name, digest in meta["files"].items():
        assert hashlib.sha256((exports[0] / name).read_bytes()).hexdigest() == digest, name
    stats = exports[0] / "base_stats.npz"
    shutil.copyfile(exports[1] / "base_stats.npz", stats)
    res = run_script("crossglg", "predict", exports[0], *args, query)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == (
        f"error: {stats}: not the file export.json describes (its SHA-256 differs: another export's file, "
        "or changed since); run `crossglg export` again\n"
    )


def test_predict_reads_real_msr_files(real_data, tmp_path, run_cli):
    """predict's reader path on the real 20-joint format: bad layout is a one-line UserError."""
    from crossglg.errors import UserError
    from crossglg.train.export import read_sequence

    coords = real_data("msr_action3d") / "real_world_coordinates"
    seq = read_sequence(coords / "a11_s01_e01_skeleton3D.txt", "msr20")
    assert seq.ndim == 4 and seq.shape[1:] == (1, 20, 3) and seq.shape[0] > 10
    with pytest.raises(UserError, match="expects layout ntu25"):
        read_sequence(coords / "a11_s01_e01_skeleton3D.txt", "ntu25")
    with pytest.raises(UserError, match="unknown single-sequence format"):
        read_sequence(real_data("msr_action3d") / "classes.tsv", "msr20")


def test_ddp_two_processes_on_gloo(small, train_args, tmp_path):
    out = tmp_path / "ddp"
    args = train_args(out, "--epochs", "2", "--set", "dc_samples=20", "--json")
    cmd = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "-m", "crossglg.cli", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["meta"]["world_size"] == 2 and state["epoch"] == 1
    history = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    # 64 samples, global batch 16 → 4 steps, each process 8 samples per step
    assert state["scheduler"]["last_epoch"] == 8
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert 0.0 <= summary["cosine"] <= 1.0 and summary["n_query"] == 35


def test_gpu_bench_runs_its_quick_version_on_cpu(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_train.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, env=ENV, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["errors"] == []
    assert [r["variant"] for r in doc["results"]] == ["base", "crossglg", "reference"]
    for r in doc["results"]:
        assert r["train_samples_per_s"] > 0 and r["infer_samples_per_s"] > 0
        assert 0 <= r["data_wait_share"] <= 1
    assert doc["results"][1]["inference_parameters"] > doc["results"][0]["inference_parameters"]
    assert doc["crossglg_over_base_step_time"]["eager"] > 0
    assert "CrossGLG/base step time (eager)" in proc.stderr
    assert set(doc["against_reference"]) == {"base", "crossglg"}
    assert doc["against_reference"]["base"]["train_speedup"] > 0
