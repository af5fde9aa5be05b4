"""The curated description packs: complete, specific, mapped to joints, importable by name."""

from __future__ import annotations

import dataclasses
import json

import pytest

from crossglg.cache import open_cache
from crossglg.textgen.packs import PACKS, get_pack, pack_problems, pack_records
from crossglg.vocab.classes import dataset_layout, load_classes
from crossglg.vocab.layouts import get_layout
from crossglg.vocab.parts import part_set

from ..textgen.conftest import invoke, run_cli

SLOTS = ("head", "hand", "arm", "hip", "leg", "foot")
NTU25 = get_layout("ntu25").joints


@pytest.mark.parametrize("name", sorted(PACKS))
def test_pack_covers_every_class_and_slot_and_passes_every_check(name):
    pack = PACKS[name]
    records = pack_records(pack)
    classes = load_classes(pack.dataset)
    slots = part_set(pack.parts, dataset_layout(pack.dataset)).slots
    kind = "part" if pack.parts == "parts6" else "joint"
    missing = sorted(set(classes.ids) - {r.class_id for r in records})
    assert not missing, f"{name}: no texts at all for {len(missing)} classes, {missing[0]}-{missing[-1]}"
    assert {(r.class_id, r.slot) for r in records} == {(c, s) for c in classes.ids for s in ("", *slots)}
    assert len(records) == (1 + len(slots)) * len(classes.classes)
    assert {r.kind for r in records if r.slot} == {kind}
    assert all(r.class_name == classes.get(r.class_id).name for r in records)
    assert pack_problems(pack) == []


def test_the_joints_pack_shares_the_global_texts_of_the_parts6_pack_and_names_every_joint():
    """One global description per class in both NTU packs, so `k_gt` does not depend on the pack."""
    joints, parts6 = pack_records(PACKS["ntu120-joints"]), pack_records(PACKS["ntu120"])
    globals6 = {r.class_id: r for r in parts6 if r.kind == "global"}
    written = [r for r in joints if r.kind == "global"]
    assert len(written) >= 40
    assert all(r == globals6[r.class_id] for r in written)
    for r in written:  # 25 sentences per class in the layout's joint order, right after the global line
        at = joints.index(r)
        assert [j.slot for j in joints[at + 1 : at + 26]] == list(NTU25)
        assert all(j.class_id == r.class_id and j.kind == "joint" for j in joints[at + 1 : at + 26])
    assert PACKS["ntu120-joints"].also == ("ntu60",) and PACKS["ntu120-joints"].parts == "joints"


def _tampered(name: str, class_id: int, slot: str, **change) -> list:
    return [
        dataclasses.replace(r, **change) if (r.class_id, r.slot) == (class_id, slot) else r
        for r in pack_records(PACKS[name])
    ]


def test_the_checks_catch_what_a_bad_pack_would_hold():
    pack = PACKS["msr-action3d"]
    echo = pack_problems(pack, _tampered("msr-action3d", 3, "head", text="Hammer."))
    assert echo == [
        "class 3 (hammer): 'head' only repeat the action name 'hammer'; describe how each of them moves"
    ]
    twice = pack_problems(
        pack, _tampered("msr-action3d", 3, "leg", text="The hips stay steady to brace each blow.")
    )
    assert (
        "class 3 hip: same text as class 3 leg" in twice or "class 3 leg: same text as class 3 hip" in twice
    )
    unmapped = pack_problems(pack, _tampered("msr-action3d", 3, "", key_body_parts=("right hand", "rhythm")))
    assert any("'rhythm' name no body part or joint" in p for p in unmapped)
    gone = pack_problems(pack, [r for r in pack_records(pack) if (r.class_id, r.slot) != (4, "foot")])
    assert gone == ["class 4 (hand catch): no text for foot"]
    # hand catch names the right hand and fingers; naming the right hand and wrist like draw tick
    # (class 8) is fine, naming other parts that fall on the same joints is not
    same = pack_problems(pack, _tampered("msr-action3d", 4, "", key_body_parts=("right hand", "right wrist")))
    assert same == []
    merged = pack_problems(
        pack, _tampered("msr-action3d", 4, "", key_body_parts=("right wrist", "right palm"))
    )
    assert merged and all("identical k_gt on msr20" in p for p in merged)


def test_distinct_key_parts_give_distinct_k_gt_within_each_pack():
    from crossglg.embeddings.joint_importance import k_gt_for
    from crossglg.vocab.body_words import match_parts
    from crossglg.vocab.classes import dataset_layout
    from crossglg.vocab.layouts import get_layout

    for pack in PACKS.values():
        layout = get_layout(dataset_layout(pack.dataset))
        glob = [r for r in pack_records(pack) if r.kind == "global"]
        named = {r.class_id: frozenset(match_parts(r.key_body_parts).phrases) for r in glob}
        k_gt = {r.class_id: k_gt_for(r.key_body_parts, r.text, layout) for r in glob}
        assert all(source == "key_body_parts" for _, source in k_gt.values())
        for a in named:
            for b in named:
                if a < b and named[a] != named[b]:
                    assert not (k_gt[a][0] == k_gt[b][0]).all(), (pack.name, a, b)


def test_import_pack_by_name_is_a_source_of_its_own(tmp_path):
    cache = tmp_path / "cache.db"
    code, out = invoke("import", "--pack", "msr-action3d", "--cache", cache, "--json")
    assert code == 0 and json.loads(out) == {
        "imported": 140,
        "source": "pack:msr-action3d@1",
        "cache": str(cache),
    }
    invoke("import", "--pack", "msr-action3d", "--cache", cache)  # again: nothing changes
    with open_cache(cache, readonly=True) as store:
        items = store.stats()["items"]
        rows = store.show("msr-action3d", 1)
    assert items == [
        {
            "dataset": "msr-action3d",
            "source": "pack:msr-action3d@1",
            "kind": "global",
            "classes": 20,
            "texts": 20,
        },
        {
            "dataset": "msr-action3d",
            "source": "pack:msr-action3d@1",
            "kind": "part",
            "classes": 20,
            "texts": 120,
        },
    ]
    assert rows[0]["backend"] == "pack" and rows[0]["key_body_parts"] == ["right arm", "right hand"]
    code, out = invoke("packs", "--json")
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["utkinect"]["classes"] == 10 and listed["utkinect"]["source"] == "pack:utkinect@1"


def test_pack_errors_are_one_line_and_name_a_working_command(tmp_path):
    unknown = run_cli("import", "--pack", "ntu-999", cwd=tmp_path)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "`crossglg-text packs` lists them (msr-action3d, utkinect" in unknown.stderr
    both = run_cli("import", "x.jsonl", "--pack", "utkinect", cwd=tmp_path)
    assert both.returncode == 2 and "give no FILE, --label or --data" in both.stderr
    nothing = run_cli("import", cwd=tmp_path)
    assert nothing.returncode == 2 and "--pack NAME" in nothing.stderr
    assert not (tmp_path / "cache.db").exists()
    listed = run_cli("packs", cwd=tmp_path)
    assert listed.returncode == 0 and "crossglg-text import --pack NAME" in listed.stdout
    assert get_pack("utkinect").path.is_file()


def test_the_ntu120_pack_also_fills_ntu60(tmp_path):
    cache = tmp_path / "cache.db"
    code, out = invoke("import", "--pack", "ntu120", "--cache", cache, "--json")
    assert code == 0 and json.loads(out)["imported"] == 840 + 420
    with open_cache(cache, readonly=True) as store:
        classes = {(i["dataset"], i["kind"]): i["classes"] for i in store.stats()["items"]}
        sixty = store.show("ntu60", 60)
    assert classes == {
        ("ntu120", "global"): 120,
        ("ntu120", "part"): 120,
        ("ntu60", "global"): 60,
        ("ntu60", "part"): 60,
    }
    assert sixty[0]["class_name"] == "walking apart from each other"
    assert sixty[0]["source"] == "pack:ntu120@1"
    code, out = invoke("packs", "--json")
    assert {p["name"]: p["datasets"] for p in json.loads(out)}["ntu120"] == ["ntu120", "ntu60"]


def test_the_ntu120_joints_pack_stores_joint_texts_for_ntu120_and_ntu60(tmp_path):
    cache = tmp_path / "cache.db"
    records = pack_records(PACKS["ntu120-joints"])
    classes = {r.class_id for r in records}
    sixty = {c for c in classes if c <= 60}
    code, out = invoke("import", "--pack", "ntu120-joints", "--cache", cache, "--json")
    assert code == 0 and json.loads(out) == {
        "imported": 26 * (len(classes) + len(sixty)),
        "source": "pack:ntu120-joints@1",
        "cache": str(cache),
    }
    with open_cache(cache, readonly=True) as store:
        items = {(i["dataset"], i["kind"]): (i["classes"], i["texts"]) for i in store.stats()["items"]}
        rows = store.show("ntu60", 1)
    assert items == {
        ("ntu120", "global"): (len(classes), len(classes)),
        ("ntu120", "joint"): (len(classes), 25 * len(classes)),
        ("ntu60", "global"): (len(sixty), len(sixty)),
        ("ntu60", "joint"): (len(sixty), 25 * len(sixty)),
    }
    slots = [r["slot"] for r in rows if r["kind"] == "joint"]
    assert sorted(slots) == sorted(NTU25) and {r["source"] for r in rows} == {"pack:ntu120-joints@1"}
    code, out = invoke("packs", "--json")
    listed = {p["name"]: p for p in json.loads(out)}["ntu120-joints"]
    assert listed["parts"] == "joints" and listed["datasets"] == ["ntu120", "ntu60"]
    assert listed["texts"] == len(records) and listed["classes"] == len(classes)
