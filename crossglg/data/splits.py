"""A one-shot protocol applied to a prepared dataset: auxiliary, validation, exemplar and query indices.

The protocol itself is vocabulary (:mod:`crossglg.vocab.protocols`, format in docs/DATA.md);
splitting needs the prepared samples' labels, names and groups, so it lives with the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossglg.data.prepared import PreparedDataset
from crossglg.errors import UserError
from crossglg.vocab.protocols import Protocol


@dataclass
class Split:
    """Indices into a prepared dataset. ``validation`` is a subset of ``auxiliary``."""

    auxiliary: np.ndarray
    validation: np.ndarray
    exemplar: np.ndarray  # one per novel class, in the protocol's novel order
    query: np.ndarray

    def counts(self) -> dict[str, int]:
        return {
            "auxiliary": len(self.auxiliary),
            "validation": len(self.validation),
            "exemplars": len(self.exemplar),
            "queries": len(self.query),
        }


def split_prepared(data: PreparedDataset, protocol: Protocol) -> Split:
    """Auxiliary / validation / exemplar / query indices of ``data`` under ``protocol``."""
    class_of = np.asarray(data.labels) + 1
    keep = np.ones(len(class_of), dtype=bool)
    if protocol.exclude_samples:
        keep &= ~np.isin(np.asarray(data.names, dtype=object), list(protocol.exclude_samples))
    aux = np.flatnonzero(keep & np.isin(class_of, protocol.base_class_ids))
    validation = aux[np.isin(class_of[aux], protocol.validation_class_ids)]
    exemplars = _exemplars(data, protocol, class_of, keep)
    novel = np.flatnonzero(keep & np.isin(class_of, protocol.novel_class_ids))
    query = novel[~np.isin(novel, exemplars)]
    return Split(aux, validation, exemplars, query)


def _exemplars(
    data: PreparedDataset, protocol: Protocol, class_of: np.ndarray, keep: np.ndarray
) -> np.ndarray:
    out = []
    if protocol.exemplar_rule == "earliest":
        pool = keep
        if protocol.exemplar_group:
            groups = np.asarray(data.groups, dtype=object)
            if not any(data.groups):
                raise UserError(
                    f"protocol {protocol.name}: exemplars come from the '{protocol.exemplar_group}' part of the "
                    f"source's split, but {data.root} records no split; add the split file and prepare again"
                )
            pool = keep & (groups == protocol.exemplar_group)
        for c in protocol.novel_class_ids:
            members = np.flatnonzero(pool & (class_of == c))
            if members.size == 0:
                where = f" among '{protocol.exemplar_group}' samples" if protocol.exemplar_group else ""
                raise UserError(
                    f"protocol {protocol.name}: no sample of novel class {c}{where} in {data.root}"
                )
            out.append(min(members, key=lambda i: data.names[i]))
        return np.asarray(out, dtype=np.int64)
    positions = {n: i for i, n in enumerate(data.names)}
    for c, name in zip(protocol.novel_class_ids, protocol.exemplars, strict=True):
        i = positions.get(name)
        if i is None:
            raise UserError(
                f"protocol {protocol.name}: exemplar {name} of class {c} is not in {data.root} "
                f"(not in the source, or skipped: see {data.root}/report.md)"
            )
        if class_of[i] != c:
            raise UserError(
                f"protocol {protocol.name}: exemplar {name} has class {class_of[i]}, expected {c}"
            )
        out.append(i)
    return np.asarray(out, dtype=np.int64)
