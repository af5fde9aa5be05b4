"""The joint-importance target k_gt: body-part words in the global text → a distribution over joints.

The words are matched by the shared lexicon (:mod:`crossglg.vocab.body_words`, docs/EMBEDDINGS.md,
"How `k_gt` is built"); this module turns a match into mass over one layout's joints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crossglg.vocab.body_words import JointMatch, match_parts, match_text
from crossglg.vocab.layouts import NTU25, Layout


def joint_importance(match: JointMatch, layout: Layout) -> np.ndarray:
    """Uniform mass over the layout joints that stand for the matched NTU joints; uniform if none."""
    v = layout.num_joints
    if match.whole_body or not match.joints:
        return np.full(v, 1.0 / v, dtype=np.float32)
    to_layout = layout.mapping_to(NTU25)  # for each NTU joint, the layout joint standing for it
    mask = np.zeros(v, dtype=bool)
    mask[to_layout[sorted(match.joints)]] = True
    return (mask / mask.sum()).astype(np.float32)


def k_gt_for(
    key_body_parts: Sequence[str] | None, text: str | None, layout: Layout
) -> tuple[np.ndarray, str]:
    """One global answer's target and where it came from: key_body_parts, free text, or uniform.

    The JSON list is preferred; the description is matched when the list is absent (an
    answer that was not JSON, an imported text) or names nothing the dictionary knows.
    """
    if key_body_parts:
        match = match_parts(key_body_parts)
        if not match.empty:
            return joint_importance(match, layout), "key_body_parts"
    if text:
        match = match_text(text)
        if not match.empty:
            return joint_importance(match, layout), "free_text"
    return joint_importance(JointMatch(frozenset(), False, ()), layout), "uniform"
