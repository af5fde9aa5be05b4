"""`crossglg compare`: the paired difference of two sets of runs, its interval, and its refusals.

The result files are written here in the format of ``crossglg eval`` (crossglg/train/evaluate.py,
``write_results``), small enough that every expected number is computed by hand; one slow test
compares two real evaluations of a trained run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from crossglg.train.compare import paired_bootstrap
from tests.helpers import run_script

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUERIES = ["q1", "q2", "q3", "q4"]
TRUTH = [1, 1, 2, 2]
NAMES = {1: "wave", 2: "kick", 3: "squat"}


def results(
    path: Path,
    predictions: dict[str, list[int]],
    truth: list[int] = TRUTH,
    queries: list[str] | None = None,
) -> Path:
    """A results.json as `crossglg eval` writes it: ``path`` is a folder (results.json goes in it) or a .json file."""
    classes = sorted(set(truth))
    doc = {
        "checkpoint": "run/best.pt",
        "shots": 1,
        "classes": {str(c): NAMES.get(c, str(c)) for c in classes},
        "n_support": len(classes),
        "n_query": len(truth),
        "queries": queries if queries is not None else [f"q{i + 1}" for i in range(len(truth))],
        "truth": truth,
        "classifiers": {},
    }
    for name, pred in predictions.items():
        hits = [p == t for p, t in zip(pred, truth, strict=True)]
        per_class = {
            str(c): float(np.mean([h for h, t in zip(hits, truth, strict=True) if t == c])) for c in classes
        }
        confusion = [
            [sum(1 for p, t in zip(pred, truth, strict=True) if t == r and p == c) for c in classes]
            for r in classes
        ]
        doc["classifiers"][name] = {"accuracy": float(np.mean(hits)), "per_class": per_class,
                                    "confusion": confusion, "classes": classes, "predictions": pred}  # fmt: skip
    file = path if path.suffix == ".json" else path / "results.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(doc, indent=1))
    return path


def compare(*args: object) -> tuple[int, str, str]:
    proc = run_script("crossglg", "compare", *args, env={"OMP_NUM_THREADS": "1"}, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def compare_json(*args: object) -> dict:
    rc, out, err = compare(*args, "--json")
    assert rc == 0, err
    return json.loads(out)


def assert_refused(rc: int, out: str, err: str, *words: str) -> None:
    """Exit 2, one ``error:`` line holding every word, no traceback, nothing on stdout."""
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in out + err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], (word, err)
    assert not out.strip(), out


@pytest.fixture
def gain(tmp_path: Path) -> dict[str, list[Path]]:
    """Two pairs: A right on 3 of 4 queries, B on 1 of 4, in each (A − B = +50 points exactly).

    Pair 1: A misses q4, B hits q1 only. Pair 2: A misses q1, B hits q3 only.
    """
    a1 = results(tmp_path / "a1", {"cosine": [1, 1, 2, 1], "dtw": [1, 1, 2, 2]})
    a2 = results(tmp_path / "a2", {"cosine": [2, 1, 2, 2], "dtw": [1, 1, 2, 2]})
    b1 = results(tmp_path / "b1", {"cosine": [1, 2, 1, 1], "dtw": [1, 1, 2, 2]})
    b2 = results(tmp_path / "b2", {"cosine": [2, 2, 2, 1], "dtw": [1, 1, 2, 2]})
    return {"a": [a1, a2], "b": [b1, b2]}


def test_three_of_four_against_one_of_four_is_fifty_points_up_in_both_pairs(gain):
    doc = compare_json(*gain["a"], "--against", *gain["b"])
    cos = doc["readouts"]["cosine"]
    assert (cos["a"], cos["b"], cos["difference"]) == (75.0, 25.0, 50.0)
    assert (cos["up"], cos["level"], cos["down"]) == (2, 0, 0)
    assert cos["runs_a"] == [75.0, 75.0] and cos["runs_b"] == [25.0, 25.0]
    lo, hi = cos["interval"]
    assert -100 <= lo < 50.0 < hi <= 100  # the queries are resampled: 4 of them leave room
    # dtw is the same in every file: no difference, and no interval around it
    assert doc["readouts"]["dtw"] | {"per_class": None} == {
        "a": 100.0, "b": 100.0, "difference": 0.0, "interval": [0.0, 0.0], "up": 0, "level": 2, "down": 0,
        "runs_a": [100.0, 100.0], "runs_b": [100.0, 100.0], "per_class": None,
    }  # fmt: skip
    assert [p["queries"] for p in doc["pairs"]] == [4, 4]
    assert [Path(p["a"]).parent.name for p in doc["pairs"]] == ["a1", "a2"]
    assert [Path(p["b"]).parent.name for p in doc["pairs"]] == ["b1", "b2"]


def test_the_text_table_shows_each_read_out_once(gain):
    rc, out, err = compare(*gain["a"], "--against", *gain["b"])
    assert rc == 0, err
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.startswith("  ") and "pair" not in line
    }
    assert rows["cosine"][1:4] == ["75.0", "25.0", "+50.0"] and rows["cosine"][-1] == "2/0/0"
    assert rows["dtw"][1:] == ["100.0", "100.0", "+0.0", "[+0.0,", "+0.0]", "0/2/0"]
    assert "per class" not in out


def test_identical_sets_are_level_with_a_zero_interval(gain):
    doc = compare_json(*gain["a"], "--against", *gain["a"])
    for r in doc["readouts"].values():
        assert r["difference"] == 0.0 and r["interval"] == [0.0, 0.0]
        assert (r["up"], r["level"], r["down"]) == (0, 2, 0)
        assert all(c["difference"] == 0.0 for c in r["per_class"].values())


def test_per_class_means_pool_pairs_of_different_class_splits(tmp_path):
    # pair 1 tests classes 1 and 2; pair 2 classes 1 and 3 (another class split)
    a1 = results(tmp_path / "a1", {"cosine": [1, 1, 2, 1]})  # class 1: 100 %, class 2: 50 %
    b1 = results(tmp_path / "b1", {"cosine": [2, 2, 2, 1]})  # class 1: 0 %, class 2: 50 %
    split2 = {"truth": [1, 1, 3, 3], "queries": ["r1", "r2", "r3", "r4"]}
    a2 = results(tmp_path / "a2", {"cosine": [1, 3, 3, 3]}, **split2)  # class 1: 50 %, class 3: 100 %
    b2 = results(tmp_path / "b2", {"cosine": [1, 1, 1, 1]}, **split2)  # class 1: 100 %, class 3: 0 %
    doc = compare_json(a1, a2, "--against", b1, b2)
    per_class = doc["readouts"]["cosine"]["per_class"]
    assert per_class == {
        "1": {"name": "wave", "a": 75.0, "b": 50.0, "difference": 25.0, "pairs": 2},
        "2": {"name": "kick", "a": 50.0, "b": 50.0, "difference": 0.0, "pairs": 1},
        "3": {"name": "squat", "a": 100.0, "b": 0.0, "difference": 100.0, "pairs": 1},
    }
    rc, out, err = compare(a1, a2, "--against", b1, b2, "--per-class")
    assert rc == 0, err
    block = out[out.index("cosine, per class:") :].splitlines()
    assert block[2].split() == ["1", "wave", "75.0", "50.0", "+25.0", "2"]
    assert block[4].split() == ["3", "squat", "100.0", "0.0", "+100.0", "1"]


def test_a_class_name_with_a_line_break_or_escape_stays_on_its_row(tmp_path):
    a, b = (
        results(tmp_path / "a", {"cosine": [1, 1, 2, 1]}),
        results(tmp_path / "b", {"cosine": [2, 2, 2, 1]}),
    )
    for run in (a, b):
        doc = json.loads((run / "results.json").read_text())
        doc["classes"]["1"] = "wave\n\x1b[31mred"
        (run / "results.json").write_text(json.dumps(doc))
    rc, out, err = compare(a, "--against", b, "--per-class")
    assert rc == 0, err
    block = out[out.index("cosine, per class:") :].splitlines()
    assert block[2].split() == ["1", "wave\\n\\x1b[31mred", "100.0", "0.0", "+100.0", "1"]
    assert "\x1b" not in out


def test_the_interval_holds_the_point_is_the_bootstrap_of_the_pairs_and_repeats_with_its_seed(tmp_path):
    rng = np.random.default_rng(7)
    truth = [int(c) for c in np.repeat([1, 2, 3, 4], 10)]
    a, b, diffs = [], [], []
    for i in range(3):
        hit_a, hit_b = rng.random(40) < 0.7, rng.random(40) < 0.5
        pa = [t if h else (t % 4) + 1 for t, h in zip(truth, hit_a, strict=True)]
        pb = [t if h else (t % 4) + 1 for t, h in zip(truth, hit_b, strict=True)]
        a.append(results(tmp_path / f"a{i}.json", {"cosine": pa}, truth=truth))
        b.append(results(tmp_path / f"b{i}.json", {"cosine": pb}, truth=truth))
        diffs.append(hit_a.astype(float) - hit_b.astype(float))
    first = compare_json(*a, "--against", *b, "--seed", "3", "--boot", "500")["readouts"]["cosine"]
    again = compare_json(*a, "--against", *b, "--seed", "3", "--boot", "500")["readouts"]["cosine"]
    other = compare_json(*a, "--against", *b, "--seed", "4", "--boot", "500")["readouts"]["cosine"]
    lo, hi = first["interval"]
    assert lo < first["difference"] < hi
    assert again["interval"] == first["interval"] and other["interval"] != first["interval"]
    point, blo, bhi = paired_bootstrap(diffs, n_boot=500, seed=3)
    assert first["difference"] == pytest.approx(100 * point)
    assert first["interval"] == pytest.approx([100 * blo, 100 * bhi])


def test_bench_uses_the_moved_bootstrap_and_its_numbers_stay(tmp_path):
    """bench/oneshot_eval.py's reports are the same computation, with the same random draws as before."""
    from bench import oneshot_eval
    from crossglg.train import compare as module

    assert oneshot_eval.paired_bootstrap is module.paired_bootstrap and oneshot_eval.correct is module.correct
    rng = np.random.default_rng(5)
    diffs = [
        (rng.random(n) < 0.6).astype(float) - (rng.random(n) < 0.5).astype(float) for n in (279, 100, 50)
    ]
    # the figures the bench's own copy gave before it moved
    assert paired_bootstrap(diffs) == pytest.approx(
        (0.04295101553166069, -0.07, 0.13885334528076462), abs=1e-12
    )
    assert paired_bootstrap(diffs, n_boot=300, seed=7) == pytest.approx(
        (0.04295101553166069, -0.09000358422939067, 0.13638172043010743), abs=1e-12
    )


def test_a_run_folder_is_read_through_its_eval_folder(tmp_path, gain):
    run = tmp_path / "run"
    results(run / "eval", {"cosine": [1, 1, 2, 1]})
    doc = compare_json(run, "--against", gain["b"][0], "--readout", "cosine")
    assert doc["pairs"][0]["a"] == str(run / "eval" / "results.json")
    assert doc["readouts"]["cosine"]["difference"] == 50.0


def test_against_takes_every_path_up_to_the_next_option_in_order(tmp_path):
    # the two pairs are of different queries: a B list out of order is refused
    a1, b1 = (results(tmp_path / n, {"cosine": [1, 1, 2, 2]}) for n in ("a1", "b1"))
    other = {"truth": [1, 2, 2, 2], "queries": ["r1", "r2", "r3", "r4"]}
    a2, b2 = (results(tmp_path / n, {"cosine": [1, 2, 2, 2]}, **other) for n in ("a2", "b2"))
    greedy = compare_json(a1, a2, "--against", b1, b2, "--readout", "cosine")
    # a path after another option is A's again
    repeated = compare_json(a1, "--against", b1, "--readout", "cosine", a2, "--against", b2)
    assert greedy["pairs"] == repeated["pairs"]
    assert [Path(p["b"]).parent.name for p in greedy["pairs"]] == ["b1", "b2"]
    assert_refused(*compare(a1, a2, "--against", b2, b1), "a1", "b2", "not the same queries")


def test_lists_of_unequal_length_are_refused(gain):
    assert_refused(*compare(*gain["a"], "--against", gain["b"][0]), "2 runs against 1")


def test_a_pair_of_other_queries_is_refused_naming_both_files(tmp_path, gain):
    renamed = results(tmp_path / "renamed", {"cosine": [1, 1, 2, 1]}, queries=["q1", "q2", "x3", "q4"])
    assert_refused(*compare(renamed, "--against", gain["b"][0]), str(renamed), str(gain["b"][0]), "query 3")
    relabelled = results(tmp_path / "relabelled", {"cosine": [1, 1, 2, 1]}, truth=[1, 2, 2, 2])
    assert_refused(*compare(gain["a"][0], "--against", relabelled), "a1", "relabelled", "true class")
    shorter = results(tmp_path / "shorter", {"cosine": [1, 1, 2]}, truth=[1, 1, 2])
    assert_refused(*compare(gain["a"][0], "--against", shorter), "4 queries against 3")


def test_read_outs_are_those_of_every_file_and_a_missing_one_is_refused(tmp_path, gain):
    extra = results(tmp_path / "extra", {"cosine": [1, 1, 2, 1], "jfdtw": [1, 1, 2, 2], "dtw": [1, 1, 2, 2]})
    doc = compare_json(extra, "--against", gain["b"][0])
    assert list(doc["readouts"]) == ["cosine", "dtw"]  # jfdtw is in one file only; the first file's order
    assert list(compare_json(extra, "--against", gain["b"][0], "--readout", "dtw")["readouts"]) == ["dtw"]
    rc, out, err = compare(extra, "--against", gain["b"][0], "--readout", "jfdtw")
    assert_refused(rc, out, err, str(gain["b"][0] / "results.json"), "'jfdtw'")


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


def _write(name: str, data: bytes):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return make


def _doc(**change):
    good = {"queries": QUERIES, "truth": TRUTH, "classifiers": {"cosine": {"predictions": [1, 1, 2, 2]}}}
    doc = {k: v for k, v in {**good, **change}.items() if v is not None}
    return _write("results.json", json.dumps(doc).encode())


BAD_INPUTS = {
    "missing path": (lambda tmp: tmp / "nowhere", "no such file or folder"),
    "folder without results": (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "no results.json"),
    "a pipe": (_fifo, "not a regular file"),
    "not UTF-8": (_write("latin.json", b'{"queries": ["caf\xe9"]}'), "not UTF-8"),
    "not JSON": (_write("broken.json", b'{"queries": ['), "not JSON"),
    "a JSON list": (_write("list.json", b"[1, 2]"), "a JSON list"),
    "no queries": (_doc(queries=None), "no queries field"),
    "no truth": (_doc(truth=None), "no truth field"),
    "no classifiers": (_doc(classifiers=None), "no classifiers field"),
    "truth not ids": (_doc(truth=["a", "b", "c", "d"]), "truth must be"),
    "queries of another length": (_doc(queries=["q1"]), "queries names 1 queries, truth 4"),
    "short predictions": (
        _doc(classifiers={"cosine": {"predictions": [1, 1, 2]}}),
        "classifiers.cosine.predictions has 3 entries for 4 queries",
    ),
    "predictions not ids": (
        _doc(classifiers={"cosine": {"predictions": [1, 1, 2, None]}}),
        "classifiers.cosine.predictions must be a list",
    ),
    "no predictions": (_doc(classifiers={"cosine": {"accuracy": 0.5}}), "classifiers.cosine.predictions"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_bad_input_is_one_line_naming_the_file(case, tmp_path, gain):
    make, words = BAD_INPUTS[case]
    bad = make(tmp_path)
    assert_refused(*compare(bad, "--against", gain["b"][0]), str(bad), words)


def test_a_bad_reference_is_refused_as_a_bad_condition_is(tmp_path, gain):
    bad = results(tmp_path / "bad.json", {"cosine": [1, 1, 2, 2]})
    doc = json.loads(bad.read_text())
    doc["classifiers"]["cosine"]["predictions"] = [1, 1, 2]
    bad.write_text(json.dumps(doc))
    assert_refused(*compare(gain["a"][0], "--against", bad), str(bad), "classifiers.cosine.predictions has 3")
    assert_refused(*compare(gain["a"][0], "--against", tmp_path / "nowhere"), "nowhere", "no such file")


def test_json_is_the_only_output_and_holds_every_field(gain):
    rc, out, err = compare(*gain["a"], "--against", *gain["b"], "--json")
    assert rc == 0 and not err.strip(), err
    doc = json.loads(out)  # the whole of stdout is one document
    assert {"unit", "confidence", "boot", "seed", "pairs", "readouts"} <= set(doc)
    assert (doc["unit"], doc["confidence"], doc["boot"], doc["seed"]) == ("percent", 95, 2000, 0)
    fields = {"a", "b", "difference", "interval", "up", "level", "down", "runs_a", "runs_b", "per_class"}
    assert set(doc["readouts"]["cosine"]) == fields
    assert doc["readouts"]["cosine"]["per_class"]["1"]["name"] == "wave"  # per class without --per-class


def test_png_is_a_forest_plot_and_never_replaces_an_input(tmp_path, gain):
    png = tmp_path / "diff.png"
    rc, out, err = compare(*gain["a"], "--against", *gain["b"], "--png", png)
    assert rc == 0, err
    assert png.read_bytes().startswith(PNG_MAGIC) and "picture:" in out
    rc, out, err = compare(*gain["a"], "--against", *gain["b"], "--png", tmp_path / "j.png", "--json")
    assert rc == 0 and json.loads(out)["readouts"] and (tmp_path / "j.png").read_bytes().startswith(PNG_MAGIC)
    target = gain["b"][1] / "results.json"  # named through its folder
    before = target.read_bytes()
    assert_refused(*compare(*gain["a"], "--against", *gain["b"], "--png", target), str(target), "an input")
    assert target.read_bytes() == before
    assert_refused(
        *compare(*gain["a"], "--against", *gain["b"], "--png", tmp_path / "no" / "d.png"), "does not exist"
    )


def test_boot_outside_its_range_is_a_usage_error(gain):
    for boot in ("99", "100001"):
        rc, _, err = compare(*gain["a"], "--against", *gain["b"], "--boot", boot)
        assert rc == 2 and "Traceback" not in err and "Invalid value" in err, err


@pytest.mark.slow
def test_two_real_evaluations_of_one_run_are_level(run_cli, train_args, tmp_path):
    run = tmp_path / "run"
    run_cli(train_args(run, "--epochs", "1", "--set", "dc_samples=20", text=False))
    again = tmp_path / "again"
    run_cli(["eval", str(run), "--out", str(again), "--classifier", "cosine", "--classifier", "dtw"])
    doc = compare_json(run, "--against", again)
    assert list(doc["readouts"]) == ["cosine", "dtw"]  # the read-outs both evaluations hold
    summary = json.loads((run / "summary.json").read_text())
    for name, r in doc["readouts"].items():
        assert r["difference"] == 0.0 and r["interval"] == [0.0, 0.0] and r["level"] == 1
        assert r["a"] == r["b"] == pytest.approx(100 * summary[name])
    assert doc["pairs"][0]["queries"] == len(json.loads((again / "results.json").read_text())["truth"])
