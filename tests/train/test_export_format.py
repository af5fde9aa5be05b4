"""Exports written before the read-outs (format 1: no auxiliary mean) still serve what they can."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crossglg.errors import UserError


def test_a_format_1_export_offers_cosine_and_dtw_and_names_what_cl2n_needs(tmp_path):
    from crossglg.baselines.dtw import normalise
    from crossglg.models import build_inference_model
    from crossglg.train.export import ExportedModel
    from crossglg.train.oneshot import Readouts
    from crossglg.vocab.layouts import get_layout

    torch.manual_seed(0)
    model_cfg = {"use_text": False, "encoder": {"base_channels": 8}}
    branch = build_inference_model("stgcn", "msr20", model_cfg)
    torch.save(branch.state_dict(), tmp_path / "state_dict.pt")
    stats = {"means": np.ones((2, 32)), "covs": np.zeros((2, 32, 32)), "beta": 0.5}
    np.savez_compressed(tmp_path / "base_stats.npz", **stats)  # no aux_mean: format 1
    meta = {"format": "crossglg-export/1", "encoder": "stgcn", "layout": "msr20", "frames": 16, "persons": 1}
    dc = {"beta": 0.5, "k": 2, "alpha": 0.21, "samples": 50, "max_iter": 100}
    (tmp_path / "export.json").write_text(json.dumps({**meta, "model": model_cfg, "dc": dc}))

    model = ExportedModel(tmp_path)
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(20 + 3 * i, 1, 20, 3)).astype(np.float32) for i in range(4)]
    feats, k = model.embed_features(seqs)
    assert feats.z.shape == (4, 32) and feats.frames.shape[0] == 4 and k.shape == (4, 20)
    assert model.aux.base is not None and model.aux.mean is None
    feats.joints = np.stack([normalise(s, get_layout("msr20")) for s in seqs])
    sup = type(feats)(z=feats.z[:2], joints=feats.joints[:2])
    query = type(feats)(z=feats.z, joints=feats.joints)
    r = Readouts(sup, np.array([0, 1]), query, model.aux, model.dc)
    assert r.predict("cosine")[:2].tolist() == [0, 1]  # an exemplar is its own nearest
    assert r.predict("dtw")[:2].tolist() == [0, 1]
    assert r.predict("ndtw")[:2].tolist() == [0, 1]
    with pytest.raises(UserError, match="--classifier cl2n: needs the auxiliary mean"):
        r.predict("cl2n")
