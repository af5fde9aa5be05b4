"""One-shot protocols: built-in counts, the JEANIE split file, protocol TOML files and errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from crossglg.data.prepare import prepare
from crossglg.data.prepared import open_prepared
from crossglg.data.splits import split_prepared
from crossglg.errors import UserError
from crossglg.vocab.protocols import DEFAULT_PROTOCOL, PROTOCOLS, get_protocol, load_protocol


@pytest.fixture(scope="module")
def msr(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("msr") / "prepared"
    prepare(real_data("msr_action3d"), "msr-action3d", out, workers=2)
    return open_prepared(out)


def test_msr_split_equals_jeanie_file(msr, real_data):
    split = split_prepared(msr, load_protocol("msr-action3d", msr.dataset))
    assert split.counts() == {"auxiliary": 277, "validation": 0, "exemplars": 10, "queries": 279}
    with open(real_data("msr_action3d/fewshot_jeanie_split.tsv")) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for role, idx in (("auxiliary", split.auxiliary), ("exemplar", split.exemplar), ("query", split.query)):
        assert sorted(msr.names[i] for i in idx) == sorted(r["sample"] for r in rows if r["role"] == role), (
            role
        )
    assert [msr.names[i] for i in split.exemplar] == [f"a{c}_s01_e01" for c in range(11, 21)]


def test_utkinect_protocols(real_data, tmp_path):
    prepare(real_data("utkinect_action3d"), "utkinect", tmp_path / "u", workers=1)
    data = open_prepared(tmp_path / "u")
    assert split_prepared(data, get_protocol("utkinect")).counts() == {
        "auxiliary": 99,
        "validation": 0,
        "exemplars": 5,
        "queries": 95,
    }
    all10 = split_prepared(data, get_protocol("utkinect-all10"))
    assert (len(all10.auxiliary), len(all10.exemplar), len(all10.query)) == (0, 10, 189)
    with pytest.raises(UserError, match="is for dataset utkinect, the data is msr-action3d"):
        load_protocol("utkinect", "msr-action3d")


def test_ntu120_class_lists_match_the_shared_tables(real_data):
    p = get_protocol("ntu120")
    with open(real_data("ntu_protocols/ntu120_oneshot_novel_classes.tsv")) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert p.novel_class_ids == tuple(int(r["class_id"]) for r in rows)
    assert p.exemplars == tuple(r["exemplar"] for r in rows)
    aux = [
        int(x) for x in (real_data("ntu_protocols/ntu120_oneshot_auxiliary_classes.txt")).read_text().split()
    ]
    assert p.base_class_ids == tuple(aux)
    assert p.validation_class_ids == tuple(range(2, 120, 6))
    assert p.expected == {"auxiliary": 95001, "exemplars": 20, "queries": 18924}
    n60 = get_protocol("ntu60")
    assert n60.exemplars == p.exemplars[:10] and len(n60.base_class_ids) == 50


def test_auxiliary_subsets_are_first_k_by_id():
    for k in (20, 40, 60, 80, 100):
        sub = get_protocol(f"ntu120-aux{k}")
        assert sub.base_class_ids == get_protocol("ntu120").base_class_ids[:k]
        assert sub.novel_class_ids == get_protocol("ntu120").novel_class_ids
        assert set(sub.validation_class_ids) <= set(sub.base_class_ids)
    assert get_protocol("ntu120-aux20").base_class_ids[:10] == (2, 3, 4, 5, 6, 8, 9, 10, 11, 12)
    assert [f"ntu60-aux{k}" in PROTOCOLS for k in (10, 20, 30, 40, 50)] == [True] * 5


def test_scaffold_api_still_answers():
    assert DEFAULT_PROTOCOL["msr-action3d"] == "msr-action3d"
    assert get_protocol("pku-mmd").novel_class_ids == (1, 6, 11, 16, 21, 26, 31, 36, 41, 46)
    assert len(get_protocol("pku-mmd").base_class_ids) == 41
    with pytest.raises(UserError, match="unknown one-shot protocol 'nope'"):
        get_protocol("nope")


def test_protocol_file(msr, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "msr-small"\ndataset = "msr-action3d"\nbase_classes = [1, 2, 3]\nnovel_classes = [19, 20]\n'
        'exemplars = ["a19_s02_e01", "a20_s02_e01"]\nvalidation_classes = [3]\n'
    )
    p = load_protocol(path, msr.dataset)
    split = split_prepared(msr, p)
    assert split.counts() == {"auxiliary": 27 * 3, "validation": 27, "exemplars": 2, "queries": 58}
    assert [msr.names[i] for i in split.exemplar] == ["a19_s02_e01", "a20_s02_e01"]
    assert set(np.asarray(msr.labels)[split.validation] + 1) == {3}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'name = "x"\nnum_classes = 5\nnovel_classes = [1, 2]\nexemplars = ["a"]\n',
            "1 exemplars for 2 novel",
        ),
        (
            'name = "x"\nbase_classes = [1, 2]\nnovel_classes = [2]\nexemplars = ["a"]\n',
            "both base and novel",
        ),
        ('name = "x"\nnovel_classes = [2]\nexemplars = ["a"]\n', "give 'base_classes' or 'num_classes'"),
        ("novel_classes = [2]\n", "required field 'name' missing"),
        ('name = "x"\nnum_classes = 5\nnovel_classes = [0]\n', "1-based class ids"),
        (
            'name = "x"\nnum_classes = 4\nnovel_classes = [4]\nexemplars = ["a"]\nvalidation_classes = [4]\n',
            "not base",
        ),
        ("name = [\n", "not a readable protocol TOML"),
    ],
)
def test_protocol_file_errors_name_the_field(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(UserError, match=message) as err:
        load_protocol(path)
    assert str(path) in str(err.value)


def test_missing_exemplar_is_a_clear_error(msr, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "p"\ndataset = "msr-action3d"\nnum_classes = 20\nnovel_classes = [13]\nexemplars = ["a13_s09_e02"]\n'
    )
    with pytest.raises(UserError, match=r"exemplar a13_s09_e02 of class 13 is not in .*report\.md"):
        split_prepared(msr, load_protocol(path))
    path.write_text(
        'name = "p"\ndataset = "msr-action3d"\nnum_classes = 20\nnovel_classes = [13]\nexemplars = ["a12_s01_e01"]\n'
    )
    with pytest.raises(UserError, match="has class 12, expected 13"):
        split_prepared(msr, load_protocol(path))


def test_earliest_exemplar_rule(msr, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "p"\ndataset = "msr-action3d"\nnum_classes = 20\nnovel_classes = [20, 14]\nexemplar_rule = "earliest"\n'
    )
    split = split_prepared(msr, load_protocol(path))
    assert [msr.names[i] for i in split.exemplar] == ["a20_s01_e01", "a14_s01_e01"]


def _pku_two_sequences(root):
    """Sequence 0002-L (training) and 0003-L (validation), each with one clip of every novel class."""
    (root / "skeleton").mkdir(parents=True)
    (root / "label").mkdir()
    (root / "Split").mkdir()
    rng = np.random.default_rng(0)
    novel = get_protocol("pku-mmd").novel_class_ids
    for seq in ("0002-L", "0003-L"):
        np.savetxt(root / "skeleton" / f"{seq}.txt", rng.normal(size=(120, 150)), fmt="%.4f")
        lines = [f"{c},{10 * k},{10 * k + 8},1" for k, c in enumerate(novel)] + ["2,100,110,2"]
        (root / "label" / f"{seq}.txt").write_text("\n".join(lines) + "\n")
    (root / "Split" / "cross-subject.txt").write_text(
        "Training videos: \n0002-L, 0001-M\nValidation videos: \n0003-L\n"
    )


def test_pku_exemplars_come_from_validation_sequences(tmp_path):
    _pku_two_sequences(tmp_path / "pku")
    prepare(tmp_path / "pku", "pku-mmd", tmp_path / "out", workers=1)
    data = open_prepared(tmp_path / "out")
    assert data.groups[:11] == ["train"] * 11 and data.groups[11:] == ["validation"] * 11
    split = split_prepared(data, get_protocol("pku-mmd"))
    assert [data.names[i] for i in split.exemplar] == [f"0003-L_{10 * k:06d}" for k in range(10)]
    assert split.counts() == {"auxiliary": 2, "validation": 0, "exemplars": 10, "queries": 10}


def test_pku_exemplar_rule_needs_the_split(tmp_path):
    _pku_two_sequences(tmp_path / "pku")
    (tmp_path / "pku" / "Split" / "cross-subject.txt").unlink()
    prepare(tmp_path / "pku", "pku-mmd", tmp_path / "out", workers=1)
    with pytest.raises(UserError, match="records no split; add the split file"):
        split_prepared(open_prepared(tmp_path / "out"), get_protocol("pku-mmd"))


def test_documented_ntu_counts_follow_from_the_packaged_missing_list():
    """Without NTU itself: 948/960 files per class minus the official missing ones (docs/DATA.md, "One-shot protocols")."""
    from collections import Counter

    from crossglg.data.readers.ntu_skeleton import official_missing, parse_name

    fields = [parse_name(n) for n in official_missing()]
    assert len(fields) == 535 and sum(f[0] <= 17 for f in fields) == 302
    for name, max_setup in (("ntu120", 32), ("ntu60", 17)):
        missing = Counter(f[4] for f in fields if f[0] <= max_setup)
        usable = {c: (948 if c <= 60 else 960) - missing[c] for c in range(1, 121)}
        p = get_protocol(name)
        counts = {
            "auxiliary": sum(usable[c] for c in p.base_class_ids),
            "exemplars": len(p.exemplars),
            "queries": sum(usable[c] - 1 for c in p.novel_class_ids),
        }
        assert counts == p.expected
        assert not set(p.exemplars) & official_missing()


@pytest.mark.parametrize("name", ["ntu120", "ntu60"])
def test_full_ntu_counts_when_the_user_has_the_data(name):
    """Set CROSSGLG_NTU120_PREPARED / CROSSGLG_NTU60_PREPARED to a prepared cache of the full data set."""
    import os

    folder = os.environ.get(f"CROSSGLG_{name.upper()}_PREPARED")
    if not folder:
        pytest.skip(f"no full {name} cache (CROSSGLG_{name.upper()}_PREPARED unset)")
    p = get_protocol(name)
    counts = split_prepared(open_prepared(folder), p).counts()
    assert {k: counts[k] for k in p.expected} == p.expected
