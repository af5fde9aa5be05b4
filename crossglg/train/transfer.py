"""One-shot evaluation of an exported model on another dataset: the cross-dataset use case.

A model trained on one sensor (say MSR Action3D's 20 joints) meets data from another
(UTKinect's Kinect-v1 order): the joints are re-indexed through the layouts' shared NTU
correspondences (``Layout.mapping_to``), so no retraining or code is needed. Distribution
calibration uses the auxiliary statistics saved with the export, i.e. of the training data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossglg.train.oneshot import cosine_predict, dc_predict


def transfer_eval(export_dir: Path, data_dir: Path, protocol: str, seed: int = 0) -> dict:
    """Cosine and DC one-shot accuracy of ``export_dir`` on ``data_dir`` under ``protocol``."""
    from crossglg.data.layouts import get_layout
    from crossglg.data.prepared import open_prepared
    from crossglg.data.protocols import load_protocol
    from crossglg.train.export import ExportedModel

    model = ExportedModel(export_dir)
    data = open_prepared(data_dir)
    proto = load_protocol(protocol, data)
    to_model = get_layout(data.layout).mapping_to(get_layout(model.meta["layout"]))
    split = proto.split(data)
    labels = np.asarray(data.labels)

    def embed(indices: np.ndarray) -> np.ndarray:
        return model.embed([data.sequence(int(i))[:, :, to_model] for i in indices])[0]

    z_sup, z_q = embed(split.exemplar), embed(split.query)
    sup_labels, truth = labels[split.exemplar], labels[split.query]
    result = {
        "protocol": proto.name,
        "data_layout": data.layout,
        "model_layout": model.meta["layout"],
        "queries": len(truth),
        "cosine": float((cosine_predict(z_sup, sup_labels, z_q) == truth).mean()),
        "mapping": to_model.tolist(),
    }
    if model.base_stats is not None:
        dc = dc_predict(z_sup, sup_labels, z_q, model.base_stats, model.dc, seed=seed)
        result["dc"] = float((dc == truth).mean())
    return result
