"""Every ``$ crossglg ...`` line of docs/TRAINING.md, run in order on the real MSR Action3D data.

Training lines get a tiny budget appended (1 epoch, 16 frames, an 8-channel encoder) so the
walk-through runs in minutes on CPU; everything else runs as written. The torchrun and bench
lines are run by test_deploy.py with the same launch shape; here they are only checked.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from tests.helpers import console_commands, run_script

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "TRAINING.md"
TINY = [
    "--epochs",
    "1",
    "--set",
    "frames=16",
    "--set",
    "model.encoder.base_channels=8",
    "--set",
    "dc_samples=20",
]


def doc_commands() -> list[list[str]]:
    return [shlex.split(line) for line in console_commands(DOC.read_text())]


def test_the_documented_commands_run(real_data, run_cli, tmp_path):
    work = tmp_path / "work"
    (work / "datasets").mkdir(parents=True)
    for entry in ("msr_action3d", "utkinect_action3d"):
        (work / "datasets" / entry).symlink_to(real_data(entry))
    (work / "examples").symlink_to(REPO / "examples")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    old = Path.cwd()
    os.chdir(work)
    ran = []
    try:
        for cmd in doc_commands():
            if cmd[0] == "crossglg-text":
                proc = run_script("crossglg-text", *cmd[1:], env=env)
                assert proc.returncode == 0, proc.stderr
            elif cmd[0] == "crossglg":
                args = cmd[1:]
                if args[0] == "train" and "--resume" in args:
                    args[args.index("--epochs") + 1] = "2"
                elif args[0] == "train" and "--dry-run" not in args:
                    args = [*args, *TINY]
                out = run_cli(args)
                if args[0] == "train" and "--dry-run" not in args and "--resume" not in args:
                    assert "one-shot accuracy on the novel classes" in out and "n_query: 279" in out
                if args[:2] == ["eval", "runs/msr"] and "--json" in args:
                    assert json.loads(out)["shots"] == 5
                if args[0] == "predict":
                    assert len(out.strip().splitlines()) == 2
                if args[0] == "transfer" and "--json" in args:  # two exports read out as one ensemble
                    doc = json.loads(out)
                    assert doc["models"] == 2 and 0 <= doc["jfdtw"] <= 1 and doc["queries"] == 189
            elif cmd[0] == "torchrun":
                assert cmd[1:6] == ["--standalone", "--nproc-per-node", "2", "-m", "crossglg.cli"]
            else:
                assert cmd[:2] == ["python", "bench/gpu_train.py"]
                sys.path.insert(0, str(REPO / "bench"))
                try:
                    import gpu_train

                    gpu_train.parse_args(cmd[2:])
                finally:
                    sys.path.remove(str(REPO / "bench"))
            ran.append(cmd[0] if cmd[0] != "crossglg" else f"crossglg {cmd[1]}")
    finally:
        os.chdir(old)
    assert (
        ran.count("crossglg train") == 4 and ran.count("crossglg predict") == 2 and "crossglg export" in ran
    )
    assert ran.count("crossglg transfer") == 4 and ran.count("crossglg compare") >= 3
    # `transfer --out` writes what `compare` pairs: one query list for both exports
    on_utk = [
        json.loads((work / "runs" / r / "utk" / "results.json").read_text()) for r in ("msr", "msr-base")
    ]
    assert [len(d["queries"]) for d in on_utk] == [189, 189] and on_utk[0]["queries"] == on_utk[1]["queries"]
    assert (work / "runs" / "msr" / "export" / "model.ts").is_file()
    assert (work / "runs" / "msr" / "eval-picked" / "joint_importance.png").is_file()
    ensemble = json.loads((work / "runs" / "msr-ensemble" / "results.json").read_text())
    assert [Path(c).parent.name for c in ensemble["checkpoints"]] == ["msr", "msr-base"]
    history = json.loads((work / "runs" / "msr" / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]  # the resumed run added one epoch
