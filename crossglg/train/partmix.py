"""Part mixing: a training sample takes one limb group (both arms, or both legs) from another
sample of the batch, and its target is shared between the two classes by how much of each
class's joint importance the swapped joints carry (docs/TRAINING.md, "Part mixing").

Beyond the paper. With ``partmix_labels = "text"`` the importance is the class's ``k_gt``, the
joints its global description names (docs/EMBEDDINGS.md, "How k_gt is built"): arms of a wave
on the legs of a kick read as mostly wave when the wave's text names the arms and the kick's
the legs. With ``"area"`` every joint counts the same (the share is the joint count, as CutMix
shares by area): the same augmentation with no text, its control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from crossglg.errors import UserError
from crossglg.vocab.layouts import Layout

#: The groups one mix swaps: the layout's body parts joined into upper and lower limbs.
LIMB_GROUPS = (("arm", "hand"), ("leg", "foot"))
LABELS = ("text", "area")
_EVEN = 1e-3  # keeps the share defined when neither class's importance lies where the mix puts it


def limb_masks(layout: Layout) -> np.ndarray:
    """[G, V] bool: the joints of each limb group of ``layout`` (a group it lacks is left out)."""
    masks = []
    for group in LIMB_GROUPS:
        joints = sorted({j for part in group for j in layout.parts.get(part, ())})
        if joints:
            mask = np.zeros(layout.num_joints, dtype=bool)
            mask[joints] = True
            masks.append(mask)
    return np.stack(masks) if masks else np.zeros((0, layout.num_joints), dtype=bool)


@dataclass
class PartMixer:
    """Mixes a batch ``[N, C, T, V, M]``; built by :func:`part_mixer` at each epoch's start (a few
    small tensors)."""

    masks: Any  # [G, V] bool tensor
    share: Any  # [K, G]: each training class's share of its joint importance in each group
    probability: float

    def __call__(self, x: Any, y: Any, generator: Any) -> tuple[Any, Any]:
        """(mixed batch, soft targets [N, K]): each sample is mixed with probability ``probability``
        with the sample a random permutation pairs it with, in one random limb group."""
        import torch

        n, device = x.shape[0], x.device
        draw = {"generator": generator, "device": generator.device} if generator is not None else {}
        perm = torch.randperm(n, **draw).to(device)
        mixed = (torch.rand(n, **draw) < self.probability).to(device)
        group = torch.randint(self.masks.shape[0], (n,), **draw).to(device)
        joints = self.masks[group] & mixed[:, None]  # [N, V]
        out = torch.where(joints[:, None, None, :, None], x[perm], x)
        own, other = self.share[y, group], self.share[y[perm], group]
        lam = (other + _EVEN) / (1 - own + other + 2 * _EVEN)
        lam = torch.where(mixed, lam, torch.zeros_like(lam))
        k = self.share.shape[0]
        one_hot = torch.nn.functional.one_hot
        return out, torch.lerp(one_hot(y, k).float(), one_hot(y[perm], k).float(), lam[:, None])


def part_mixer(
    probability: float, labels: str, layout: Layout, k_gt: Any, num_classes: int, device: Any
) -> PartMixer:
    """The run's mixer: ``k_gt`` [K, V] (the text targets' rows) for ``"text"``, unused for ``"area"``."""
    import torch

    masks = torch.as_tensor(limb_masks(layout), device=device)
    if not len(masks):
        raise UserError(
            f"aug_partmix: layout {layout.name} names no arm, hand, leg or foot joints to swap; set aug_partmix=0"
        )
    if labels == "text":
        importance = torch.as_tensor(k_gt, dtype=torch.float32, device=device).clamp_min(0)
        importance = importance / importance.sum(1, keepdim=True).clamp_min(1e-12)
    else:
        importance = torch.full((num_classes, layout.num_joints), 1.0 / layout.num_joints, device=device)
    share = importance @ masks.float().T  # [K, G]
    return PartMixer(masks=masks, share=share, probability=probability)
