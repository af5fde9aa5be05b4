"""What a run reads: the prepared skeletons held in memory, the protocol split and the text.

The prepared data is small enough to sit in memory: all frames back to back plus offsets and
lengths (on the GPU when they fit), so a batch is one gather into a padded [N, T, M, V, 3]
tensor followed by data-B's batched preprocessing on the same device: no worker processes,
no per-sample Python in the training loop, and no padding stored (NTU-120 holds 5.5 GB of
frames, 20 GB once padded to 300).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crossglg.errors import UserError

if TYPE_CHECKING:
    from crossglg.data.preprocess import PreprocessConfig
    from crossglg.train.config import TrainConfig

# keep the frames on the GPU only when they take at most this share of its free memory;
# otherwise they stay in host memory and each gathered batch is copied over
DEVICE_RESIDENT_SHARE = 0.25


@dataclass
class OneShotSplit:
    """Support (exemplars) and queries of a set of classes; labels are 1-based class ids."""

    class_ids: list[int]
    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray


class RunData:
    """The prepared dataset cut by a protocol into training, validation and novel parts."""

    def __init__(self, cfg: TrainConfig, device: str) -> None:
        import torch

        from crossglg.data.prepared import open_prepared
        from crossglg.data.splits import split_prepared
        from crossglg.vocab.protocols import load_protocol

        self.prepared = open_prepared(cfg.data)
        self.protocol = load_protocol(cfg.protocol, self.prepared.dataset)
        from crossglg.vocab.layouts import get_layout

        self.layout = get_layout(self.prepared.layout)
        self.dataset_name = self.prepared.dataset
        self.class_names = {i + 1: n for i, n in enumerate(self.prepared.class_names)}
        if cfg.persons == 0:  # from the data: 1 slot for single-person sets, no empty dummy
            cfg.persons = self.prepared.num_persons
        self.preprocess_cfg: PreprocessConfig = cfg.preprocess_config(cfg.persons)
        self.generator = torch.Generator()

        split = split_prepared(self.prepared, self.protocol)
        class_of = np.asarray(self.prepared.labels) + 1
        self._class_of = class_of
        aux = np.asarray(split.auxiliary, dtype=np.int64)
        held_out = np.asarray(split.validation if cfg.validation else [], dtype=np.int64)
        self.holdout_class_ids: list[int] = []
        if cfg.holdout_classes:
            aux_ids = sorted({int(c) for c in class_of[aux]})
            self.holdout_class_ids = holdout_fold(aux_ids, cfg.holdout_classes, cfg.holdout_fold)
            held_out = aux[np.isin(class_of[aux], self.holdout_class_ids)]
        self.train_idx = aux[~np.isin(aux, held_out)]
        if len(self.train_idx) == 0:
            raise UserError(
                f"protocol {cfg.protocol}: no training samples left after removing validation classes"
            )
        self.train_class_ids = sorted({int(c) for c in class_of[self.train_idx]})
        remap = {c: i for i, c in enumerate(self.train_class_ids)}
        self.train_labels = np.array([remap[int(c)] for c in class_of[self.train_idx]], dtype=np.int64)
        self.val = self._val_split(held_out) if len(held_out) else None
        self._exemplars = np.asarray(split.exemplar, dtype=np.int64)
        self._queries = np.asarray(split.query, dtype=np.int64)

        frames = torch.from_numpy(np.array(self.prepared.frames))  # into memory, writable
        where = device if _fits(frames.numel() * frames.element_size(), device) else "cpu"
        self.device = device
        self._frames = frames.to(where)
        self._offsets = torch.as_tensor(np.asarray(self.prepared.offsets), dtype=torch.long, device=where)
        self._lengths_host = np.asarray(self.prepared.lengths, dtype=np.int64)
        self._lengths = torch.as_tensor(self._lengths_host, device=where)

    def batches(self, idx: np.ndarray, train: bool):
        """Model input [N, 3, T, V, M] for prepared-sample indices ``idx``, on the run's device."""
        import torch

        from crossglg.data.preprocess import preprocess

        home = self._frames.device
        sel = torch.as_tensor(np.asarray(idx), dtype=torch.long, device=home)
        lens = self._lengths[sel]
        # one gather: frame t of sample i, clamped to its last frame (preprocess zeroes t >= length);
        # the batch's longest length comes from host memory, so the GPU is not waited for here
        t = torch.arange(int(self._lengths_host[np.asarray(idx)].max()), device=home)
        rows = self._offsets[sel, None] + torch.minimum(t[None], lens[:, None] - 1)
        data = self._frames[rows]
        if home != torch.device(self.device):
            data, lens = data.to(self.device, non_blocking=True), lens.to(self.device)
        batch = preprocess(
            data,
            lengths=lens,
            layout=self.layout,
            train=train,
            config=self.preprocess_cfg,
            generator=self.generator if train else None,
        )
        return batch.x

    def middle_pose(self, i: int) -> np.ndarray:
        """Actor 1's joints [V, 3] at the middle frame, for drawing."""
        seq = self.prepared.sequence(int(i))
        return np.asarray(seq[len(seq) // 2, 0])

    def _val_split(self, members: np.ndarray) -> OneShotSplit:
        """Held-out auxiliary classes as a one-shot task: the first sample by name is the exemplar."""
        names = self.prepared.names
        members = sorted((int(i) for i in members), key=lambda i: names[i])
        support, query = [], []
        seen: set[int] = set()
        for i in members:
            c = int(self._class_of[i])
            (query if c in seen else support).append(i)
            seen.add(c)
        return self._split(sorted(seen), np.array(support), np.array(query))

    def novel_split(self, shots: int = 1) -> OneShotSplit:
        """The protocol's exemplars plus, for k shots, the next k-1 queries of each class by name."""
        support = list(self._exemplars)
        query = list(self._queries)
        if shots > 1:
            names = self.prepared.names
            by_class: dict[int, list[int]] = {}
            for i in sorted(query, key=lambda i: names[i]):
                by_class.setdefault(int(self._class_of[i]), []).append(int(i))
            for c, members in sorted(by_class.items()):
                if len(members) < shots:
                    raise UserError(
                        f"protocol {self.protocol.name}: class {c} has {len(members)} queries, too few for {shots} shots"
                    )
                support.extend(members[: shots - 1])
            taken = set(support)
            query = [i for i in query if i not in taken]
        ids = sorted({int(self._class_of[i]) for i in support})
        return self._split(ids, np.array(support, dtype=np.int64), np.array(query, dtype=np.int64))

    def _split(self, ids: list[int], support: np.ndarray, query: np.ndarray) -> OneShotSplit:
        return OneShotSplit(
            class_ids=ids,
            support=support,
            support_labels=self._class_of[support] if len(support) else np.zeros(0, np.int64),
            query=query,
            query_labels=self._class_of[query] if len(query) else np.zeros(0, np.int64),
        )

    def counts(self) -> dict[str, Any]:
        novel = self.novel_split(1)
        return {
            "samples": len(self.prepared.labels),
            "train_samples": len(self.train_idx),
            "train_classes": len(self.train_class_ids),
            "validation_classes": len(self.val.class_ids) if self.val else 0,
            "holdout_classes": list(self.holdout_class_ids),
            "validation_queries": len(self.val.query) if self.val else 0,
            "novel_classes": len(novel.class_ids),
            "exemplars": len(novel.support),
            "queries": len(novel.query),
        }


def holdout_fold(aux_class_ids: list[int], k: int, fold: int) -> list[int]:
    """Fold ``fold`` of the sorted auxiliary class ids cut into consecutive groups of ``k``.

    These classes leave training and become pseudo-novel validation classes (their first
    sample by name is the exemplar), so a recipe or an epoch can be chosen on one-shot
    accuracy without the protocol's novel classes (docs/TRAINING.md, "Choosing a recipe").
    The ids left over after the last full group are never held out.
    """
    ids = sorted(aux_class_ids)
    folds = len(ids) // k
    if folds < 1 or len(ids) - k < 2:
        raise UserError(
            f"holdout_classes={k}: the protocol has {len(ids)} auxiliary classes; at least {k + 2} are "
            "needed (k held out, two or more to train on)"
        )
    if fold >= folds:
        raise UserError(f"holdout_fold={fold}: with holdout_classes={k} the folds are 0..{folds - 1}")
    return ids[fold * k : (fold + 1) * k]


def _fits(nbytes: int, device: str) -> bool:
    import torch

    if not device.startswith("cuda"):
        return True
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return nbytes <= DEVICE_RESIDENT_SHARE * free


def load_run_data(cfg: TrainConfig, device: str) -> RunData:
    return RunData(cfg, device)


@dataclass
class TextTargets:
    """Per training class, on the device: local-text vectors [C, P, D], k_gt [C, V], text similarity [C, C].

    Rows follow the run's training-label order, so a batch looks them up with ``[y]``.
    """

    local: Any
    k_gt: Any
    similarity: Any  # [C, C] cosine of the classes' global-text vectors (text-relation targets)
    part_names: list[str]
    provenance: Any

    @property
    def dim(self) -> int:
        return int(self.local.shape[-1])

    @property
    def tokens(self) -> int:
        return int(self.local.shape[1])

    @classmethod
    def load(cls, cfg: TrainConfig, data: RunData, device: str) -> TextTargets:
        import torch

        from crossglg.embeddings.textbank import TextBank
        from crossglg.train.text_controls import apply_text_control

        bank = TextBank.from_cache(
            cfg.text_cache,
            dataset=cfg.text_dataset or data.dataset_name,
            embedder=cfg.embedder or None,
            parts=cfg.parts,
            layout=data.layout.name,
            source=cfg.text_source or None,
            class_ids=list(data.train_class_ids),
            # what fills a gap here: texts for exactly the classes this run trains on
            generate=f"crossglg-text generate --data {cfg.data} --protocol {cfg.protocol}",
        )
        row = {int(c): i for i, c in enumerate(bank.class_ids)}
        order = [row[c] for c in data.train_class_ids]
        local, k_gt, global_vectors = apply_text_control(
            np.asarray(bank.local_vectors)[order],
            np.asarray(bank.k_gt)[order],
            np.asarray(bank.global_vectors)[order],
            cfg.text_control,
        )
        unit = global_vectors / np.maximum(np.linalg.norm(global_vectors, axis=1, keepdims=True), 1e-12)
        return cls(
            local=torch.as_tensor(local, dtype=torch.float32, device=device),
            k_gt=torch.as_tensor(k_gt, dtype=torch.float32, device=device),
            similarity=torch.as_tensor(unit @ unit.T, dtype=torch.float32, device=device),
            part_names=list(bank.part_names),
            provenance=getattr(bank, "provenance", None),
        )
