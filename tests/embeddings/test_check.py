"""`crossglg-text check` on a curated pack and on texts built to fail each of its checks."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crossglg.textgen.cli import app

SLOTS = ("head", "hand", "arm", "hip", "leg", "foot")


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_check_a_pack_and_a_bad_source(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.db", tmp_path / "bad.db"
    assert run("import", "--pack", "msr-action3d", "--cache", good)[0] == 0
    rows = []
    for c, (text, parts) in {
        1: ("One arm swings overhead from side to side.", ["right arm"]),
        2: ("One arm swings overhead from side to side.", ["right shoulder", "right elbow", "right wrist"]),
        3: ("The right fist punches straight forward from the chest.", ["right hand"]),
    }.items():
        rows.append({"dataset": "msr-action3d", "class_id": c, "text": text, "key_body_parts": parts})
        for slot in SLOTS:
            words = "stays still" if slot in ("hip", "leg", "foot") else f"moves in class {c}"
            rows.append({"dataset": "msr-action3d", "class_id": c, "kind": "part", "slot": slot,
                         "text": f"The {slot} {words}."})  # fmt: skip
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run("import", tmp_path / "bad.jsonl", "--label", "bad", "--cache", bad)[0] == 0
    for cache in (good, bad):
        assert run("embed", "--cache", cache)[0] == 0

    code, out = run("check", "-d", "msr-action3d", "--cache", good, "--png", tmp_path / "good.png", "--json")
    report = json.loads(out)
    assert code == 0 and report["source"] == "pack:msr-action3d@1" and report["classes"] == 20
    # the only identical targets are high and horizontal arm wave, which name the same parts
    assert report["identical_k_gt"] == [
        {"classes": [1, 2], "names": ["high arm wave", "horizontal arm wave"], "same_parts_named": True}
    ]
    assert report["shared_parts"] == [] and report["near_duplicates"] == [] and report["problems"] == 0
    assert (tmp_path / "good.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out = run("check", "-d", "msr-action3d", "--cache", bad, "--json")
    report = json.loads(out)
    assert [(p["classes"], p["cosine"]) for p in report["near_duplicates"]] == [([1, 2], 1.0)]
    assert report["identical_k_gt"][0] == {
        "classes": [1, 2],
        "names": ["high arm wave", "horizontal arm wave"],
        "same_parts_named": False,
    }
    assert [(p["slot"], p["classes"]) for p in report["shared_parts"]] == [
        ("foot", [1, 2, 3]),
        ("hip", [1, 2, 3]),
        ("leg", [1, 2, 3]),
    ]
    assert report["problems"] == 5
    code, text = run("check", "-d", "msr-action3d", "--cache", bad)
    assert "5 problem(s)" in text and "merged by the joint dictionary" in text


def test_vectors_export_npz_is_the_text_bank(tmp_path: Path) -> None:
    import numpy as np

    from crossglg.embeddings.textbank import TextBank

    cache = tmp_path / "cache.db"
    assert run("import", "--pack", "utkinect", "--cache", cache)[0] == 0
    assert run("embed", "--cache", cache)[0] == 0
    code, out = run("vectors", tmp_path / "utk.npz", "-d", "utkinect", "--cache", cache, "--json")
    assert code == 0 and json.loads(out)["classes"] == 10
    bank = TextBank.from_cache(cache, dataset="utkinect")
    with np.load(tmp_path / "utk.npz") as z:
        assert z["class_ids"].tolist() == list(range(1, 11))
        assert z["class_names"][8] == "wave hands" and z["slots"].tolist() == list(SLOTS)
        assert z["global_vectors"].shape == (10, 1, 384) and z["local_vectors"].shape == (10, 1, 6, 384)
        np.testing.assert_array_equal(z["local_vectors"][:, 0], bank.local_vectors.numpy())
        np.testing.assert_array_equal(z["k_gt"][:, 0], bank.k_gt.numpy())
        provenance = json.loads(str(z["provenance"]))
    assert provenance["source"] == "pack:utkinect@1" and provenance["layout"] == "kinect20"
    for bad, why in ((tmp_path / "utk.txt", "must end in .npz"), (cache, "must end in .npz")):
        result = CliRunner().invoke(app, ["vectors", str(bad), "-d", "utkinect", "--cache", str(cache)])
        assert result.exit_code != 0 and why in str(result.exception)


def test_check_and_vectors_refuse_bad_outputs_and_unknown_datasets(tmp_path: Path) -> None:
    """One-line errors (exit 2) before anything is read or written, through the real entry point."""
    import os
    import subprocess
    import sys

    cache = tmp_path / "cache.db"
    assert run("import", "--pack", "utkinect", "--cache", cache)[0] == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for args, message in (
        (["check", "-d", "ntu60"], "no texts for dataset ntu60 (it has texts for utkinect)"),
        (["check", "-d", "utkinect", "--png", "missing/m.png"], "folder missing does not exist"),
        (["vectors", "missing/v.npz", "-d", "utkinect"], "folder missing does not exist"),
        (["vectors", "v.csv", "-d", "utkinect"], "must end in .npz"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "crossglg.textgen.cli", *args, "--cache", str(cache)],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith("cache.db")]  # nothing written


def _joints_pack_subset(path: Path, class_ids: set[int]) -> Path:
    """The ntu120-joints pack's lines for a few classes: embedding the whole pack takes minutes on CPU."""
    from crossglg.textgen.packs import PACKS

    lines = PACKS["ntu120-joints"].path.read_text(encoding="utf-8").splitlines()
    path.write_text("".join(line + "\n" for line in lines if json.loads(line)["class_id"] in class_ids))
    return path


def test_check_and_vectors_read_a_per_joint_source_as_joints(tmp_path: Path) -> None:
    import numpy as np

    from crossglg.vocab.layouts import get_layout

    cache = tmp_path / "cache.db"
    subset = _joints_pack_subset(tmp_path / "joints.jsonl", {10, 34, 35, 36})
    assert run("import", subset, "--label", "joints", "--cache", cache)[0] == 0
    assert run("embed", "--cache", cache, "-d", "ntu120")[0] == 0
    code, out = run("check", "-d", "ntu120", "--cache", cache, "--json")
    report = json.loads(out)
    assert code == 0 and report["classes"] == 4 and report["problems"] == 0
    # clapping / rubbing hands and nodding / shaking the head name the same parts: reported, no problem
    assert [(p["classes"], p["same_parts_named"]) for p in report["identical_k_gt"]] == [
        ([10, 34], True),
        ([35, 36], True),
    ]
    assert report["shared_parts"] == [] and report["near_duplicates"] == []
    code, out = run("vectors", tmp_path / "j.npz", "-d", "ntu120", "--cache", cache, "--json")
    assert code == 0
    with np.load(tmp_path / "j.npz") as z:
        assert z["slots"].tolist() == list(get_layout("ntu25").joints)
        assert z["local_vectors"].shape == (4, 1, 25, 384) and z["k_gt"].shape == (4, 1, 25)
    # asked for parts6, it names the option that reads what the source holds
    result = CliRunner().invoke(app, ["check", "-d", "ntu120", "--cache", str(cache), "--parts", "parts6"])
    assert result.exit_code != 0
    assert str(result.exception) == (
        f"{cache}: source import:joints holds per-joint texts for ntu120 and no parts6 texts; "
        "read them with --parts joints (parts='joints' from Python), or fill parts6 with "
        f"`crossglg-text generate --dataset ntu120 --cache {cache}`"
    )
