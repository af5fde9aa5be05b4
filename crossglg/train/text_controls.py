"""Control conditions for text guidance: the same training with the text made uninformative.

A gain from CrossGLG is only the text's doing if it disappears when the text stops matching
the classes (docs/RESULTS.md). ``text_control`` in the training config picks one:

- ``"shuffled"``: every training class gets another class's bank rows (local and global texts
  and k_gt), by a fixed derangement, so the text is still real text but describes the wrong class;
- ``"uniform-kgt"``: the JID target is uniform over joints for every class (the local texts
  are kept), so L_cal carries no body-part information.

``--no-text`` (the base encoder, no text at all) is the third control.
"""

from __future__ import annotations

import numpy as np

TEXT_CONTROLS = ("none", "shuffled", "uniform-kgt")
DERANGEMENT_SEED = 0  # fixed, so every run and seed of a "shuffled" condition sees the same pairing


def derangement(n: int, seed: int = DERANGEMENT_SEED) -> np.ndarray:
    """A random permutation of range(n) with no fixed point (Sattolo's algorithm: one n-cycle)."""
    perm = np.arange(n)
    rng = np.random.default_rng(seed)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def apply_text_control(
    local: np.ndarray, k_gt: np.ndarray, global_vectors: np.ndarray, control: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bank rows a run trains with, in label order: [K, P, D] local vectors, [K, V] targets, [K, D] global vectors.

    "shuffled" moves all three by one derangement, so the text-relation targets (built from the
    global vectors) follow the wrong classes too.
    """
    if control == "shuffled" and len(local) > 1:
        perm = derangement(len(local))
        return local[perm], k_gt[perm], global_vectors[perm]
    if control == "uniform-kgt":
        return local, np.full_like(k_gt, 1.0 / k_gt.shape[-1]), global_vectors
    return local, k_gt, global_vectors
