"""One-shot evaluation of an exported model on another dataset: the cross-dataset use case.

A model trained on one sensor (say MSR Action3D's 20 joints) meets data from another
(UTKinect's Kinect-v1 order): the joints are re-indexed through the layouts' shared NTU
correspondences (``Layout.mapping_to``), so no retraining or code is needed. The read-outs
that use auxiliary statistics (dc, cl2n, fdtw, fused) take them from the export, i.e. from
the training data; joint-space DTW works on the new dataset's own layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossglg.train.oneshot import CLASSIFIERS, FUSION_WEIGHT, JOINT_READOUTS, Readouts


def transfer_eval(
    export_dir: Path,
    data_dir: Path,
    protocol: str,
    seed: int = 0,
    classifiers: tuple[str, ...] = CLASSIFIERS,
    fusion_weight: float = FUSION_WEIGHT,
) -> dict:
    """One-shot accuracy of ``export_dir`` on ``data_dir`` under ``protocol``, per read-out.

    A read-out the export cannot serve (dc without statistics, cl2n from a format-1 export)
    is left out of the result rather than failing the others.
    """
    from crossglg.baselines.dtw import normalise
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.errors import UserError
    from crossglg.train.evaluate import within_joint_budget
    from crossglg.train.export import ExportedModel
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    model = ExportedModel(export_dir)
    data = open_prepared(data_dir)
    proto = load_protocol(protocol, data.dataset)
    layout = get_layout(data.layout)
    to_model = layout.mapping_to(get_layout(model.meta["layout"]))
    split = split_prepared(data, proto)
    labels = np.asarray(data.labels)

    def features(indices: np.ndarray):
        sequences = [data.sequence(int(i))[:, :, to_model] for i in indices]
        feats, _ = model.embed_features(sequences, joint_frames="jfdtw" in classifiers)
        if JOINT_READOUTS & set(classifiers):
            feats.joints = np.stack([normalise(data.sequence(int(i)), layout) for i in indices])
        return feats

    sup = features(split.exemplar)
    classifiers = within_joint_budget(classifiers, sup, len(split.query))
    query = features(split.query)
    truth = labels[split.query]
    readouts = Readouts(sup, labels[split.exemplar], query, model.aux, model.dc, fusion_weight, seed)
    result = {
        "protocol": proto.name,
        "data_layout": data.layout,
        "model_layout": model.meta["layout"],
        "queries": len(truth),
        "fusion_weight": fusion_weight,
        "mapping": to_model.tolist(),
    }
    for name in classifiers:
        try:
            result[name] = float((readouts.predict(name) == truth).mean())
        except UserError:
            if len(classifiers) == 1:
                raise
            result.setdefault("unavailable", []).append(name)
    return result
