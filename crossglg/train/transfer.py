"""One-shot evaluation of an exported model on another dataset: the cross-dataset use case.

A model trained on one sensor (say MSR Action3D's 20 joints) meets data from another
(UTKinect's Kinect-v1 order): the joints are re-indexed through the layouts' shared NTU
correspondences (``Layout.mapping_to``), so no retraining or code is needed. The read-outs
that use auxiliary statistics (dc, cl2n, fdtw, fused) take them from the export, i.e. from
the training data; joint-space DTW works on the new dataset's own layout. Several exports of
one layout are read out as one ensemble, as ``crossglg eval`` does with checkpoints
(docs/TRAINING.md, "Seed ensembles"): a seed or input-stream ensemble transfers as it was measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crossglg.train.oneshot import CLASSIFIERS, FUSION_WEIGHT, JOINT_READOUTS, Readouts, combined


def transfer_eval(
    export_dirs: Sequence[Path],
    data_dir: Path,
    protocol: str,
    seed: int = 0,
    classifiers: tuple[str, ...] = CLASSIFIERS,
    fusion_weight: float = FUSION_WEIGHT,
    dtw_weights: Path | None = None,
    out: Path | None = None,
) -> dict:
    """One-shot accuracy of the exports in ``export_dirs`` (one model, or their ensemble) on
    ``data_dir`` under ``protocol``, per read-out.

    A read-out the exports cannot serve (dc without statistics, cl2n from a format-1 export)
    is left out of the result rather than failing the others. ``dtw_weights``: coordinate weights
    of the joint read-outs, re-indexed to the new dataset's layout like the model's joints.
    ``out``: a folder that also gets results.json (every query's name, true class and predictions)
    and the confusion PNGs, as ``crossglg eval --out`` writes them, for ``crossglg compare``; it is
    made only once every input is read and every score computed.
    """
    from crossglg.baselines.dtw_weights import dtw_inputs, readout_weights
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.errors import UserError
    from crossglg.train.evaluate import within_joint_budget
    from crossglg.train.export import load_exports
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    weights = readout_weights(dtw_weights)
    models = load_exports(export_dirs)
    data = open_prepared(data_dir)
    proto = load_protocol(protocol, data.dataset)
    layout = get_layout(data.layout)
    to_model = layout.mapping_to(get_layout(models[0].meta["layout"]))
    split = split_prepared(data, proto)
    labels = np.asarray(data.labels)
    # read once for every member: the exemplars, then the queries
    sequences = [[data.sequence(int(i)) for i in idx] for idx in (split.exemplar, split.query)]
    joints = None
    if JOINT_READOUTS & set(classifiers):  # on the new dataset's own layout
        if weights is not None:
            weights.check_unseen(data.dataset, labels[split.exemplar] + 1)
        joints = [dtw_inputs(part, layout, weights) for part in sequences]

    def features(model, part: int):
        mapped = [x[:, :, to_model] for x in sequences[part]]
        feats, _ = model.embed_features(mapped, joint_frames="jfdtw" in classifiers)
        if joints is not None:
            feats.joints = joints[part]
        return feats

    truth = labels[split.query]
    model_free: dict = {}
    members = []
    for model in models:
        sup = features(model, 0)
        classifiers = within_joint_budget(classifiers, sup, len(split.query))
        query = features(model, 1)
        members.append(Readouts(sup, labels[split.exemplar], query, model.aux, model.dc, fusion_weight, seed,
                                model_free=model_free))  # fmt: skip
    readouts = combined(members)
    result = {
        "protocol": proto.name,
        "data_layout": data.layout,
        "model_layout": models[0].meta["layout"],
        "models": len(models),
        "queries": len(truth),
        "fusion_weight": fusion_weight,
        "dtw_weights": None if dtw_weights is None else str(dtw_weights),
        "mapping": to_model.tolist(),
    }
    predictions: dict[str, np.ndarray] = {}
    for name in classifiers:
        try:
            predictions[name] = readouts.predict(name)
        except UserError:
            if len(classifiers) == 1:
                raise
            result.setdefault("unavailable", []).append(name)
            continue
        result[name] = float((predictions[name] == truth).mean())
    if out is not None:
        extra = {key: value for key, value in result.items() if key not in ("queries", *predictions)}
        extra.update({"exports": [str(d) for d in export_dirs], "data": str(data_dir), "shots": 1, "seed": seed,
                      "encoder": models[0].meta["encoder"],
                      "text_trained": [bool(m.meta.get("text_trained", False)) for m in models]})  # fmt: skip
        _write(out, data, split, labels, predictions, extra)
    return result


def _write(
    out: Path, data, split, labels: np.ndarray, predictions: dict[str, np.ndarray], extra: dict
) -> None:
    """results.json and the confusion PNGs, by ``crossglg eval``'s writer and in its class ids
    (1-based, as the prepared data's class ``i`` is id ``i + 1``), under the folder's lock."""
    from crossglg.train.checkpoint_eval import JOINT_PICTURE, evaluation_folder
    from crossglg.train.data import OneShotSplit
    from crossglg.train.evaluate import write_results
    from crossglg.train.oneshot import report

    ids = labels + 1
    support, query = np.asarray(split.exemplar, np.int64), np.asarray(split.query, np.int64)
    one_shot = OneShotSplit(sorted({int(c) for c in ids[support]}), support, ids[support], query, ids[query])
    results = {
        name: report(one_shot.query_labels, pred + 1, one_shot.class_ids)
        for name, pred in predictions.items()
    }
    class_names = {i + 1: n for i, n in enumerate(data.class_names)}
    names = [data.names[int(i)] for i in query]
    with evaluation_folder(out, "transfer"):
        write_results(results, one_shot, class_names, out, extra, names)
        # an earlier evaluation's joint picture in this folder would pass for this transfer's
        (out / JOINT_PICTURE).unlink(missing_ok=True)
