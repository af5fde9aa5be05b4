"""Text-free deployment: export the skeleton branch, then classify new actions from exemplars.

An export directory holds ``model.pt2`` (torch.export, dynamic batch) and ``model.ts``
(TorchScript), both encoder + JID mapping x → (z_s, joint weights, per-frame features);
``state_dict.pt`` (the same weights for ``crossglg.models``); ``base_stats.npz`` (what the
read-outs know of the auxiliary classes: per-class statistics for distribution calibration and
``aux_mean`` and ``aux_joint_mean``, the mean features that CL2N and feature DTW centre on)
and ``export.json`` (layout, input size, model configuration, parameter counts, and the SHA-256
of each file above, written last so that it describes one export's files). The two
programs are for deployment elsewhere; they are code (a ``.pt2`` graph can name any
``torch.*`` callable, a pickle any global), so ``predict`` and ``transfer`` never load them:
they rebuild the skeleton branch from ``export.json`` and read ``state_dict.pt`` with
``weights_only=True`` (docs/SECURITY.md). No text module is imported. An export without
``aux_mean`` (format 1, written before the read-outs existed) still serves the cosine, dc, dtw
and ndtw read-outs.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.errors import UserError
from crossglg.outputs import replaced_file, write_whole
from crossglg.train.oneshot import FUSION_WEIGHT
from crossglg.train.run_lock import run_lock

TS_NAME = "model.ts"
PT2_NAME = "model.pt2"
META_NAME = "export.json"
WEIGHTS_NAME = "state_dict.pt"
STATS_NAME = "base_stats.npz"
# the files export.json lists with their SHA-256, written before it; predict and transfer check the
# two they read (a crash or a copy between files would otherwise pair one export's weights with
# another's description, and that loads without complaint)
FILES = (TS_NAME, PT2_NAME, WEIGHTS_NAME, STATS_NAME)


def _wrap(branch):
    """The skeleton branch as x → (z_s [N, D], k_out [N, V], frames [N, T', C]), a plain tuple."""
    import torch
    from torch import nn

    from crossglg.models.jid import person_average

    class Exported(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return self.outputs(self.inner.features(x), x)

        def outputs(self, feats, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            if feats.k_person is None:  # no JID (a --no-text run): uniform weights keep one signature
                v = x.shape[3]
                k = torch.full((x.shape[0], v), 1.0 / v, dtype=feats.z.dtype, device=x.device)
            else:
                k = person_average(feats.k_person, feats.mask)
            return feats.z, k, feats.frames()

    return Exported(branch).eval()


def export_checkpoint(path: Path, out_dir: Path, data: str = "") -> dict[str, Any]:
    """Write the export; both compiled forms are checked against the eager model on a real batch."""
    import torch

    from crossglg.train import checkpoint as ckpt_io
    from crossglg.train.distributed import Dist
    from crossglg.train.evaluate import aux_stats, embed_features
    from crossglg.train.session import build_session, count_parameters

    state = ckpt_io.load(path)
    cfg = ckpt_io.config_from(state, path)
    if data:
        cfg.data = data
    s = build_session(cfg, Dist(), "cpu", for_training=False)
    ckpt_io.load_model(s.model, state, path)
    s.model.eval()
    inference = s.model.inference_model().eval()
    wrapped = _wrap(inference)
    example = s.data.batches(s.data.train_idx[: min(4, len(s.data.train_idx))], train=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(out_dir, "export"):  # one export per folder: docs/TRAINING.md
        with torch.no_grad(), warnings.catch_warnings():
            # TorchScript is deprecated upstream but still loads in the most places (C++, mobile)
            warnings.simplefilter("ignore", DeprecationWarning)
            # the tracer warns at every Python branch on a shape (stgcn.input_batchnorm's layout test):
            # those depend on the joints and channels, fixed per model, never on the traced batch, and
            # both programs are checked against the eager model below
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            eager_z = wrapped(example)[0]
            traced = torch.jit.trace(wrapped, example, check_trace=False)
            program = torch.export.export(
                wrapped, (example,), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}}
            )
            for kind, z in (
                ("TorchScript", traced(example)[0]),
                ("torch.export", program.module()(example)[0]),
            ):
                if not torch.allclose(eager_z, z, atol=1e-5, rtol=1e-4):
                    raise RuntimeError(f"the {kind} export differs from the eager model; report this encoder")
            with replaced_file(out_dir / TS_NAME, "TorchScript model") as fh:
                torch.jit.save(traced, fh)
        with replaced_file(out_dir / PT2_NAME, "torch.export program") as fh:
            torch.export.save(program, fh)
        with replaced_file(out_dir / WEIGHTS_NAME, "weights") as fh:
            torch.save(inference.state_dict(), fh)

        z_base, _ = embed_features(s.model, s.data.batches, s.data.train_idx, cfg.eval_batch_size, _null)
        aux = aux_stats(z_base, s.data.train_labels, cfg.dc_beta)
        base = aux.base
        with replaced_file(out_dir / STATS_NAME, "statistics") as fh:
            np.savez_compressed(
                fh,
                means=base.means,
                covs=base.covs,
                beta=base.beta,
                aux_mean=aux.mean,
                aux_joint_mean=aux.joint_mean,
            )
        meta = {
            "format": "crossglg-export/2",
            "files": {name: _sha256(out_dir / name) for name in FILES},
            "checkpoint": str(path),
            "epoch": int(state["epoch"]) + 1,
            "encoder": cfg.encoder,
            "layout": s.data.layout.name,
            "frames": cfg.frames,
            "persons": cfg.persons,
            "preprocess": _preprocess_meta(s.data.preprocess_cfg),
            "embed_dim": int(eager_z.shape[1]),
            "text_trained": not cfg.no_text,
            "model": s.model.cfg.to_dict(),  # what build_inference_model needs to rebuild the branch
            "parameters": count_parameters(inference),
            "training_parameters": count_parameters(s.model),
            "train_classes": {str(c): s.data.class_names.get(c, "") for c in s.data.train_class_ids},
            "dc": {
                "beta": cfg.dc_beta,
                "k": cfg.dc_k,
                "alpha": cfg.dc_alpha,
                "samples": cfg.dc_samples,
                "max_iter": cfg.dc_max_iter,
            },
        }
        write_whole(out_dir / META_NAME, json.dumps(meta, indent=1), "metadata")
        return {
            "export": str(out_dir),
            "torch_export": str(out_dir / PT2_NAME),
            "torchscript": str(out_dir / TS_NAME),
            "parameters": meta["parameters"],
        }


# the input pipeline's test-time settings an export keeps, with their types
_TEST_TIME = {
    "center": bool,
    "normalize_view": bool,
    "test_ratio": float,
    "normalize_scale": bool,
    "stream": str,
}


def _preprocess_meta(cfg) -> dict[str, Any]:
    """The test-time settings of the input pipeline, so ``predict`` feeds the model as training did."""
    return {key: getattr(cfg, key) for key in _TEST_TIME}


def _test_time_pipeline(meta: dict[str, Any], path: Path):
    """The export's test-time pipeline, its ``preprocess`` table checked key by key (an export is
    untrusted input: an unknown key or a wrong type must not end in a traceback)."""
    from crossglg.data.preprocess import PipelineError, PreprocessConfig

    # exports written before the pipeline options had only frames and persons
    raw = meta.get("preprocess", {})
    if not isinstance(raw, dict):
        raise UserError(f"{path}: 'preprocess' must be a table of test-time settings")
    for key, value in raw.items():
        kind = _TEST_TIME.get(key)
        if kind is None:
            raise UserError(f"{path}: preprocess.{key} is not a test-time setting ({', '.join(_TEST_TIME)})")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number if kind is float else isinstance(value, kind)):
            raise UserError(f"{path}: preprocess.{key}={value!r} is not {kind.__name__}")
    try:
        return PreprocessConfig(frames=meta["frames"], persons=meta["persons"], **raw)
    except PipelineError as err:
        raise UserError(f"{path}: preprocess.{err.field} {err.problem}") from None


def _null():
    import contextlib

    return contextlib.nullcontext()


class ExportedModel:
    """A loaded export: the skeleton branch rebuilt from ``export.json``, its weights read safely."""

    def __init__(self, export_dir: Path, device: str = "cpu") -> None:
        from crossglg.models import build_inference_model
        from crossglg.train.checkpoint import load_weights

        export_dir = Path(export_dir)
        self.meta = _read_meta(export_dir)
        self.dc = dc_settings(self.meta["dc"], export_dir)
        self.pipeline = _test_time_pipeline(self.meta, export_dir / META_NAME)
        self.device = device
        weights = export_dir / WEIGHTS_NAME
        if not weights.is_file():
            raise UserError(f"{export_dir}: {WEIGHTS_NAME} missing; run `crossglg export` again")
        weight_bytes = _read_listed(weights, self.meta)
        try:
            branch = build_inference_model(self.meta["encoder"], self.meta["layout"], self.meta["model"])
        except UserError as err:  # a bad model table, encoder or layout: say which file holds it
            raise UserError(f"{export_dir / META_NAME}: {err}") from None
        from crossglg.vocab.streams import stream_channels

        fed, takes = stream_channels(self.pipeline.stream), branch.encoder.cfg.in_channels
        if fed != takes:
            raise UserError(
                f"{export_dir / META_NAME}: preprocess.stream={self.pipeline.stream!r} feeds "
                f"{fed} channels, model.encoder.in_channels is {takes}"
            )
        try:
            branch.load_state_dict(load_weights(weights, "export weights", data=weight_bytes))
        except (RuntimeError, TypeError, AttributeError) as err:
            from crossglg.train.checkpoint import misfit

            raise UserError(f"{weights} does not fit the model of {META_NAME}: {misfit(err)}") from None
        self.module = _wrap(branch).to(device)
        from crossglg.train.oneshot import AuxStats, BaseStats

        stats = export_dir / STATS_NAME
        self.aux = AuxStats()
        if stats.is_file():
            stats_bytes = _read_listed(stats, self.meta)
            try:
                with np.load(io.BytesIO(stats_bytes), allow_pickle=False) as f:
                    arrays = {
                        k: f[k] for k in ("means", "covs", "beta", "aux_mean", "aux_joint_mean") if k in f
                    }
            except (OSError, ValueError) as err:
                raise UserError(f"{stats}: not readable base statistics ({err})") from None
            from crossglg.vocab.layouts import get_layout

            _check_stats(stats, arrays, get_layout(self.meta["layout"]).num_joints)
            base = BaseStats(means=arrays["means"], covs=arrays["covs"], beta=float(arrays["beta"]))
            self.aux = AuxStats(
                base=base, mean=arrays.get("aux_mean"), joint_mean=arrays.get("aux_joint_mean")
            )

    def embed(self, sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """z_s and joint weights for raw [T, M, V, 3] sequences, with test-time preprocessing."""
        feats, k = self.embed_features(sequences)
        return feats.z, k

    def embed_features(self, sequences: list[np.ndarray], joint_frames: bool = False):
        """(Features, joint weights): z_s and the per-frame features the order-aware read-outs use;
        with ``joint_frames`` also the per-joint ones (``jfdtw``), from the eager branch: the
        compiled programs keep their documented three outputs."""
        import torch

        from crossglg.data.preprocess import preprocess
        from crossglg.train.oneshot import Features

        batch = preprocess(
            sequences, layout=self.meta["layout"], train=False, config=self.pipeline, device=self.device
        )
        with torch.no_grad():
            inner = self.module.inner.features(batch.x)  # one pass for both the outputs and the joints
            out = self.module.outputs(inner, batch.x)
            per_joint = inner.joint_frames() if joint_frames else None
        z, k, frames = (t.float().cpu().numpy() for t in out)
        feats = Features(z, frames)
        if per_joint is not None:
            feats.joint_frames = per_joint.float().cpu().numpy()
        return feats, k


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_listed(path: Path, meta: dict[str, Any]) -> bytes:
    """The file's bytes, refused if their SHA-256 is not the one export.json lists: another
    export's file (a crash between files, a partial copy), or one changed since. The bytes that
    were checked are the bytes loaded, read once. Exports written before the list load as they
    did."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror or err})") from None
    listed = meta.get("files", {}).get(path.name)
    if listed is not None and hashlib.sha256(data).hexdigest() != listed:
        raise UserError(
            f"{path}: not the file {META_NAME} describes (its SHA-256 differs: another export's file, "
            "or changed since); run `crossglg export` again"
        )
    return data


def _check_stats(path: Path, arrays: dict[str, np.ndarray], joints: int) -> None:
    """Refuse, in one line naming the field, statistics whose shapes do not fit together.

    A crafted or damaged base_stats.npz would otherwise fail deep inside a read-out with a
    numpy broadcasting error.
    """

    def expect(key: str, *shape: int | None) -> np.ndarray:
        if key not in arrays:
            raise UserError(f"{path}: not readable base statistics (no {key!r})")
        a = arrays[key]
        if a.ndim != len(shape) or any(w is not None and w != n for w, n in zip(shape, a.shape, strict=True)):
            expected = "[" + ", ".join("any" if w is None else str(w) for w in shape) + "]"
            raise UserError(f"{path}: {key!r} has shape {list(a.shape)}; expected {expected}")
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise UserError(f"{path}: {key!r} holds values that are not finite numbers")
        return a

    means = expect("means", None, None)
    expect("covs", *means.shape, means.shape[1])
    expect("beta")
    channels = expect("aux_mean", None).shape[0] if "aux_mean" in arrays else None
    if "aux_joint_mean" in arrays:
        expect("aux_joint_mean", joints, channels)


# export.json keys predict and transfer read, with their types
_META_KEYS = {"encoder": str, "layout": str, "frames": int, "persons": int, "model": dict, "dc": dict}


def _read_meta(export_dir: Path) -> dict[str, Any]:
    """``export.json``, checked: an export is a folder users pass around (untrusted input)."""
    path = export_dir / META_NAME
    if not path.is_file():
        raise UserError(
            f"{export_dir} is not an export directory (no {META_NAME}); run `crossglg export` first"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(meta, dict):
        raise UserError(f"{path}: not an export description")
    if "model" not in meta and "encoder" in meta:
        raise UserError(
            f"{export_dir} was written before exports were loaded safely (no model configuration in "
            f"{META_NAME}); export the checkpoint again: `crossglg export RUN`"
        )
    for key, kind in _META_KEYS.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise UserError(f"{path}: '{key}' missing or not a {kind.__name__}")
    from crossglg.train.config import TRAIN_RANGES

    for key in ("frames", "persons"):
        # the bounds a training run has: a crafted 10**9 frames was an allocation that never ended
        top = int(TRAIN_RANGES[key][1])
        if not 1 <= meta[key] <= top:
            raise UserError(f"{path}: '{key}' must be in 1..{top}, got {meta[key]}")
    slots = (
        meta["model"].get("encoder", {}).get("num_person")
        if isinstance(meta["model"].get("encoder"), dict)
        else None
    )
    if slots is not None and slots != meta["persons"]:
        # the input BatchNorm is sized by num_person: a mismatch failed as a RuntimeError at the first query
        raise UserError(f"{path}: 'persons' is {meta['persons']} but model.encoder.num_person is {slots!r}")
    files = meta.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise UserError(f"{path}: 'files' must map file names to SHA-256 digests")
    return meta


def load_exports(export_dirs: Sequence[Path]) -> list[ExportedModel]:
    """The models of one ensemble (one model when one directory is named), each loaded once.

    Members may differ in seed, recipe, encoder or input stream (each export applies its own
    test-time preprocessing), but not in layout: the same files are read for all of them.
    """
    dirs = [Path(d) for d in export_dirs]
    if not dirs:
        raise UserError("name at least one export directory")
    if len({d.resolve() for d in dirs}) < len(dirs):
        raise UserError("an export is named twice; an ensemble takes each model once")
    models = [ExportedModel(d) for d in dirs]
    layout = models[0].meta["layout"]
    for d, m in zip(dirs, models, strict=True):
        if m.meta["layout"] != layout:
            raise UserError(
                f"{d}: layout {m.meta['layout']}, but {dirs[0]} has {layout}; an ensemble needs one layout"
            )
    return models


def predict_files(
    export_dirs: Sequence[Path],
    exemplars: list[tuple[str, Path]],
    queries: list[Path],
    classifier: str = "cosine",
    fusion_weight: float = FUSION_WEIGHT,
    dtw_weights: Path | None = None,
) -> list[dict[str, Any]]:
    """Label each query file with the action of the best-scoring exemplar under one read-out.

    With several exports the scores are those of their ensemble (per query each model's scores
    standardised over the actions, then averaged: docs/TRAINING.md, "Seed ensembles").
    ``dtw_weights``: coordinate weights of the joint read-outs (``crossglg baseline dtw --save-weights``).
    """
    from crossglg.baselines.dtw_weights import dtw_inputs, readout_weights
    from crossglg.train.oneshot import JOINT_READOUTS, Readouts, combined, resolve_classifiers
    from crossglg.vocab.layouts import get_layout

    if classifier == "all":
        raise UserError("--classifier all: predict labels with one read-out; choose one of them")
    (classifier,) = resolve_classifiers([classifier])
    weights = readout_weights(dtw_weights)
    models = load_exports(export_dirs)
    names = [n for n, _ in exemplars]
    if len(set(names)) != len(names):
        raise UserError("--exemplar: each action name may appear once (one exemplar per new action)")
    if len(names) < 2:
        raise UserError("--exemplar: give at least two actions to choose between")
    layout = models[0].meta["layout"]
    seq_sup = [read_sequence(p, layout) for _, p in exemplars]
    seq_q = [read_sequence(p, layout) for p in queries]
    joints = None
    if classifier in JOINT_READOUTS:
        lay = get_layout(layout)
        joints = dtw_inputs(seq_sup, lay, weights), dtw_inputs(seq_q, lay, weights)
    labels = np.arange(len(names))
    model_free: dict = {}  # joint DTW, computed once for every member
    members = []
    for model in models:
        sup, _ = model.embed_features(seq_sup, joint_frames=classifier == "jfdtw")
        query, _ = model.embed_features(seq_q, joint_frames=classifier == "jfdtw")
        _finite(sup.z, [p for _, p in exemplars])
        _finite(query.z, queries)
        if joints is not None:
            sup.joints, query.joints = joints
        members.append(
            Readouts(sup, labels, query, model.aux, model.dc, fusion_weight, model_free=model_free)
        )
    readouts = combined(members)
    classes, scores = readouts.scores(classifier)
    pred = classes[np.argmax(scores, axis=1)]
    return [
        {
            "file": str(path),
            "prediction": names[int(p)],
            "classifier": classifier,
            "models": len(models),
            "score": float(scores[i, int(np.argmax(scores[i]))]),
            "similarities": {names[int(c)]: float(scores[i, j]) for j, c in enumerate(classes)},
        }
        for i, (path, p) in enumerate(zip(queries, pred, strict=True))
    ]


def dc_settings(raw: dict[str, Any], export_dir: Path):
    """The export's distribution-calibration settings, checked like the training config's."""
    from crossglg.fieldcheck import check_fields
    from crossglg.train.config import TRAIN_RANGES
    from crossglg.train.oneshot import DCConfig

    fields = {
        "beta": "dc_beta",
        "k": "dc_k",
        "alpha": "dc_alpha",
        "samples": "dc_samples",
        "max_iter": "dc_max_iter",
    }
    if set(raw) != set(fields):
        raise UserError(f"{export_dir}/{META_NAME}: 'dc' must hold exactly {', '.join(fields)}")
    dc = DCConfig(**raw)
    check_fields(dc, f"{export_dir}/{META_NAME} dc", {k: TRAIN_RANGES[v] for k, v in fields.items()})
    return dc


def _finite(z: np.ndarray, files: list[Path]) -> np.ndarray:
    """Embeddings that can be compared: a NaN or zero vector would score ``nan`` for every action."""
    bad = ~np.isfinite(z).all(axis=1) | (np.abs(z).sum(axis=1) == 0)
    if bad.any():
        raise UserError(
            f"{files[int(np.argmax(bad))]}: the model gives no usable embedding for this sequence "
            "(non-finite or zero); check that it is a real recording of the export's layout"
        )
    return z


# single-file formats the data layer reads, by how the file name ends
SINGLE_FILE_FORMATS = (("_skeleton3D.txt", "msr-action3d"), (".skeleton", "ntu-skeleton"),
                       (".npy", "generic"), (".json", "generic"))  # fmt: skip


def read_sequence(path: Path, layout: str) -> np.ndarray:
    """One skeleton sequence [T, M, V, 3] from a file in a single-file format of the data layer."""
    from crossglg.data.readers import ReadError, reader

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    fmt = next((f for end, f in SINGLE_FILE_FORMATS if path.name.endswith(end)), None)
    if fmt is None:
        ends = ", ".join(end for end, _ in SINGLE_FILE_FORMATS)
        raise UserError(f"{path}: unknown single-sequence format; file names must end in {ends}")
    unit = (str(path), path.stem, 0, -1, -1) if fmt == "generic" else str(path)
    try:
        samples = reader(fmt).read_unit(unit).samples
    except ReadError as err:
        raise UserError(f"{path}: {err}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable as {fmt} ({err})") from None
    if not samples:
        raise UserError(f"{path}: no skeleton found in the file")
    from crossglg.data.validation import check_data
    from crossglg.vocab.layouts import get_layout

    seq = np.asarray(samples[0].data, dtype=np.float32)
    if seq.ndim == 4 and seq.shape[2] != get_layout(layout).num_joints:
        raise UserError(f"{path}: {seq.shape[2]} joints, the exported model expects layout {layout}")
    problem = check_data(path.name, seq, get_layout(layout).num_joints)
    if problem is not None:  # what prepare would skip is not scored either (docs/DATA.md)
        raise UserError(f"{path}: {problem.message} ({problem.kind}); not a usable sequence")
    return seq
