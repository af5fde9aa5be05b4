"""Where the public skeleton datasets live on this machine, and where a user gets them.

The tests and the results runner read real MSR Action3D, UTKinect-Action3D and the NTU RGB+D
protocol tables from one folder: ``$CROSSGLG_DATA``, or ``../shared/data`` beside the checkout
when the variable is unset. Nothing is downloaded: a user fetches the datasets from their
official pages (docs/DATA.md, "Getting the datasets"). A missing dataset skips its tests unless
``CROSSGLG_REQUIRE_DATA=1`` (set by ``.ci/run``) makes it an error, so CI never skips silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "CROSSGLG_DATA"
REQUIRE_ENV = "CROSSGLG_REQUIRE_DATA"
DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class Source:
    """One entry under the data folder: what it is and where its public original comes from."""

    title: str
    page: str


MSR = "https://sites.google.com/view/wanqingli/data-sets/msr-action3d"
UTK = "http://cvrc.ece.utexas.edu/KinectDatasets/HOJ3D.html"
NTU = "https://rose1.ntu.edu.sg/dataset/actionRecognition/ (tables from github.com/shahroudy/NTURGB-D)"
SOURCES = {
    "msr_action3d": Source("MSR Action3D (the skeleton files, real_world_coordinates/)", MSR),
    "utkinect_action3d": Source("UTKinect-Action3D (joints/ and actionLabel.txt)", UTK),
    "ntu_protocols": Source("the NTU RGB+D protocol tables", NTU),
    "ntu120_classes.tsv": Source("the NTU RGB+D 120 class table", NTU),
    "pku_mmd_classes.tsv": Source(
        "the PKU-MMD class table", "https://www.icst.pku.edu.cn/struct/Projects/PKUMMD.html"
    ),
}


def data_root() -> Path:
    """``$CROSSGLG_DATA`` when set (``~`` expanded), else ``../shared/data`` beside the checkout."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_ROOT


def data_required() -> bool:
    """Whether a missing dataset is an error rather than a skip (CI sets it)."""
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def missing(entry: str, root: Path | None = None) -> str | None:
    """One line saying what is missing, where it comes from and which variable to set; None if present."""
    root = data_root() if root is None else root
    path = root / entry
    if path.exists():
        return None
    source = SOURCES.get(entry, Source(entry, "docs/DATA.md, 'Getting the datasets'"))
    return (
        f"{source.title} not found at {path}: get it from {source.page} and set "
        f"{DATA_ENV} to the folder that holds {entry} (docs/DATA.md, 'Getting the datasets')"
    )
