"""Every ``$ crossglg data ...`` line of docs/DATA.md, run as written (``datasets/`` = the real-data folder)."""

from __future__ import annotations

import json
import pickle
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossglg.data.prepared import open_prepared
from tests.helpers import console_commands, fenced_blocks

from .conftest import person, write_ctrgcn_npz, write_pku_source

DOC = Path(__file__).resolve().parents[2] / "docs" / "DATA.md"


def doc_commands() -> list[list[str]]:
    return [shlex.split(line) for line in console_commands(DOC.read_text())]


def doc_toml() -> str:
    return fenced_blocks(DOC.read_text(), "toml")[0]


def _stand_ins(root: Path) -> None:
    """The small files the doc's examples read from data/."""
    data = root / "data"
    data.mkdir()
    write_ctrgcn_npz(data / "NTU60_CS.npz", 2, 2)
    names = ["S001C001P001R001A001", "S001C001P003R001A001", "S001C002P001R001A002", "S001C002P003R001A002"]
    (data / "skes_available_name.txt").write_text("\n".join(names) + "\n")
    ann = [
        {"frame_dir": "S001C001P001R001A001", "label": 0, "keypoint": person(12, 1)[None].astype(np.float16)}
    ]
    with open(data / "ntu60_3danno.pkl", "wb") as fh:
        pickle.dump({"split": {}, "annotations": ann}, fh)
    write_pku_source(data / "pku")
    # generic npz: 12 classes; 3 novel ones (10-12) with exemplars take_a/b/c and 40 queries
    rng = np.random.default_rng(0)
    labels = [c for c in range(9) for _ in range(2)] + [9] * 14 + [10] * 14 + [11] * 15
    names = [f"s{i:03d}" for i in range(len(labels))]
    names[18], names[32], names[46] = "take_a", "take_b", "take_c"
    x = rng.normal(size=(len(labels), 2, 10, 25, 3)).astype(np.float32)
    np.savez(data / "mine.npz", x=x, labels=np.array(labels), names=np.array(names),
             lengths=rng.integers(5, 11, len(labels)), class_names=np.array([f"class {i}" for i in range(1, 13)]))  # fmt: skip
    folder = data / "my_folder"
    folder.mkdir()
    (folder / "classes.txt").write_text("wave\nbow\n")
    (folder / "labels.tsv").write_text("name\tlabel\tsubject\ntake1\twave\t1\ntake2\tbow\t2\n")
    np.save(folder / "take1.npy", person(9, 2))
    (folder / "take2.json").write_text(json.dumps(person(7, 3).tolist()))
    (data / "my_protocol.toml").write_text(doc_toml())


@pytest.mark.slow
def test_every_documented_command_runs(tmp_path, monkeypatch, real_data, data_cli):
    commands = doc_commands()
    assert len(commands) >= 12 and all(c[:2] == ["crossglg", "data"] for c in commands)
    _stand_ins(tmp_path)
    (tmp_path / "datasets").mkdir()
    for entry in ("msr_action3d", "utkinect_action3d"):
        (tmp_path / "datasets" / entry).symlink_to(real_data(entry))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    outputs = {}
    for cmd in commands:
        res = runner.invoke(data_cli, cmd[1:])
        assert res.exit_code == 0, f"{shlex.join(cmd)}\n{res.output}"
        outputs[shlex.join(cmd)] = res.output
    said = "\n".join(outputs.values())
    # the figures the doc states
    assert "prepared 566 samples" in said and "prepared 199 samples" in said
    assert re.search(r"auxiliary: 277\n\s+validation: 0\n\s+exemplars: 10\n\s+queries: 279", said)
    assert re.search(r"auxiliary: 99\n\s+validation: 0\n\s+exemplars: 5\n\s+queries: 95", said)
    assert re.search(r"exemplars: 3\n\s+queries: 40\n", said)  # the TOML example on data/mine.npz
    raw = json.loads((tmp_path / "prepared/raw_ntu/report.json").read_text())
    assert raw["problems_by_kind"] == {"joints": 1, "nan": 1, "truncated": 1}
    assert open_prepared(tmp_path / "prepared/ntu60-cs").names[0] == "S001C001P001R001A001"
    assert len(open_prepared(tmp_path / "prepared/my_folder")) == 2
