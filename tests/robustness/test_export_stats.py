"""A crafted or damaged base_stats.npz in an export, or files export.json does not describe: one
line naming the field or file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crossglg.errors import UserError
from tests.helpers import run_script

V = 20  # msr20


def _export(folder: Path, **stats: np.ndarray) -> tuple[int, int]:
    """A small real export (ST-GCN, 8 channels) with the given statistics; (z dims, feature channels)."""
    from crossglg.models import build_inference_model

    torch.manual_seed(0)
    model_cfg = {"use_text": False, "encoder": {"base_channels": 8}}
    branch = build_inference_model("stgcn", "msr20", model_cfg).eval()
    torch.save(branch.state_dict(), folder / "state_dict.pt")
    with torch.no_grad():
        feats = branch.features(torch.randn(1, 3, 16, V, 1))
    dims, channels = feats.z.shape[1], feats.frames().shape[2]
    base = {"means": np.ones((2, dims)), "covs": np.zeros((2, dims, dims)), "beta": np.array(0.5),
            "aux_mean": np.zeros(channels), "aux_joint_mean": np.zeros((V, channels))}  # fmt: skip
    base.update(stats)
    np.savez_compressed(folder / "base_stats.npz", **{k: v for k, v in base.items() if v is not None})
    meta = {"format": "crossglg-export/2", "encoder": "stgcn", "layout": "msr20", "frames": 16, "persons": 1,
            "model": model_cfg, "dc": {"beta": 0.5, "k": 2, "alpha": 0.21, "samples": 50, "max_iter": 100}}  # fmt: skip
    (folder / "export.json").write_text(json.dumps(meta))
    return dims, channels


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        ({"aux_joint_mean": np.zeros((3, 5))}, r"'aux_joint_mean' has shape \[3, 5\]; expected \[20, \d+\]"),
        ({"aux_mean": np.zeros((2, 2))}, r"'aux_mean' has shape \[2, 2\]; expected \[any\]"),
        ({"covs": np.zeros((2, 3, 3))}, r"'covs' has shape \[2, 3, 3\]; expected \[2, \d+, \d+\]"),
        ({"means": np.full((2, 1), np.nan)}, r"'means' holds values that are not finite numbers"),
        ({"beta": np.array("x")}, r"'beta' holds values that are not finite numbers"),
        ({"covs": None}, r"not readable base statistics \(no 'covs'\)"),
    ],
)
def test_statistics_that_do_not_fit_are_refused_naming_the_field(tmp_path, stats, message):
    from crossglg.train.export import ExportedModel

    _export(tmp_path, **stats)
    with pytest.raises(UserError, match=f"base_stats.npz: {message}"):
        ExportedModel(tmp_path)


def test_statistics_of_another_model_are_refused_when_a_read_out_uses_them(tmp_path):
    from crossglg.train.export import ExportedModel
    from crossglg.train.oneshot import Readouts

    _, channels = _export(tmp_path, aux_mean=np.zeros(7), aux_joint_mean=np.zeros((V, 7)))  # shapes agree
    model = ExportedModel(tmp_path)
    rng = np.random.default_rng(0)
    feats, _ = model.embed_features(
        [rng.normal(size=(20, 1, V, 3)).astype(np.float32) for _ in range(3)], True
    )
    r = Readouts(type(feats)(z=feats.z[:2], frames=feats.frames[:2], joint_frames=feats.joint_frames[:2]),
                 np.array([0, 1]), feats, model.aux, model.dc)  # fmt: skip
    assert channels != 7
    for name in ("cl2n", "fdtw", "jfdtw", "fused"):
        with pytest.raises(UserError, match="the statistics belong to another model; export it again"):
            Readouts(r.support, r.labels, r.queries, model.aux, model.dc).predict(name)
    assert r.predict("cosine").shape == (3,)  # what does not use them still works


def test_predict_with_damaged_statistics_exits_with_one_line(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    _export(export, aux_joint_mean=np.zeros((4, 4)))
    rng = np.random.default_rng(1)
    files = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.npy"
        np.save(path, rng.normal(size=(20, V, 3)).astype(np.float32))
        files.append(path)
    res = run_script("crossglg", "predict", export, "--exemplar", f"a={files[0]}", "--exemplar", f"b={files[1]}",
                     "--classifier", "jfdtw", files[0])  # fmt: skip
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "base_stats.npz: 'aux_joint_mean' has shape [4, 4]; expected [20," in lines[0]
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ("x", r"export.json: 'files' must map file names to SHA-256 digests"),
        ({"state_dict.pt": 1}, r"export.json: 'files' must map file names to SHA-256 digests"),
        ({"state_dict.pt": "0" * 64}, r"state_dict.pt: not the file export.json describes"),
        ({"base_stats.npz": "0" * 64}, r"base_stats.npz: not the file export.json describes"),
    ],
)
def test_files_export_json_does_not_describe_are_refused(tmp_path, files, message):
    import hashlib

    from crossglg.train.export import ExportedModel

    _export(tmp_path)
    meta_path = tmp_path / "export.json"
    meta = json.loads(meta_path.read_text())
    listed = {
        n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest()
        for n in ("state_dict.pt", "base_stats.npz")
    }
    meta_path.write_text(json.dumps({**meta, "files": listed}))
    ExportedModel(tmp_path)  # the digests of the files themselves: loads
    meta_path.write_text(
        json.dumps({**meta, "files": files if isinstance(files, str) else {**listed, **files}})
    )
    with pytest.raises(UserError, match=message):
        ExportedModel(tmp_path)
