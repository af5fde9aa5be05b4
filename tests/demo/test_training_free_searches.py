"""bench/text_at_test_time.py, dtw_settings.py, dtw_body_frame.py, semantic_prior.py and synthetic_text_at_test.py:
the pieces their tables rest on.

Built from small hand-made tasks; the real-data tables are in docs/RESULTS.md.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from crossglg.baselines.dtw import class_distances

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))

from bench import dtw_body_frame, dtw_settings, semantic_prior, synthetic_text_at_test, text_at_test_time
from crossglg.baselines.dtw import exemplar_distances, mirrored
from crossglg.vocab.layouts import MSR20
from crossglg.vocab.protocols import load_protocol
from tests.helpers import run_script


def _task(seed: int = 0, v: int = 20) -> text_at_test_time.Task:
    rng = np.random.default_rng(seed)
    ex = rng.normal(size=(3, 6, v, 3))
    queries = np.concatenate([ex + 0.3 * rng.normal(size=ex.shape) for _ in range(2)])
    k = np.eye(3, v)  # class c's text names joint c
    return text_at_test_time.Task(ex, np.array([5, 6, 7]), queries, np.array([5, 6, 7] * 2), k, "msr20")


def test_no_text_settings_are_ndtw_itself():
    task = _task()
    n, t = task.queries.shape[:2]
    classes, d = class_distances(task.queries.reshape(n, t, -1), task.exemplars.reshape(3, t, -1),
                                 task.classes, calibrated=True)  # fmt: skip
    want = (classes[d.argmin(1)] == task.truth).astype(float)
    np.testing.assert_allclose(text_at_test_time.weighted_distances(task, task.k, 0.0), d)
    ndtw = text_at_test_time.weighted_distances(task, task.k, 0.0)
    for form in ("weighted", "prior"):
        np.testing.assert_array_equal(text_at_test_time.hits(task, form, 0.0, task.k, ndtw), want)
    np.testing.assert_array_equal(dtw_settings.hits(task, None, 0.0), want)


def test_weights_reach_only_the_joints_the_text_names():
    task = _task()
    only_joint_0 = text_at_test_time.weighted_distances(task, np.tile(np.eye(1, 20), (3, 1)), 1.0)
    moved = text_at_test_time.Task(
        task.exemplars, task.classes, task.queries.copy(), task.truth, task.k, "msr20"
    )
    moved.queries[:, :, 1:] += 5.0  # change every joint the text does not name
    np.testing.assert_allclose(
        text_at_test_time.weighted_distances(moved, np.tile(np.eye(1, 20), (3, 1)), 1.0), only_joint_0
    )


def test_motion_is_each_joints_share_of_the_travel():
    x = np.zeros((1, 3, 2, 3))
    x[0, 1, 0, 0], x[0, 2, 0, 0] = 1.0, 2.0  # joint 0 travels 2, joint 1 stays
    x[0, 1, 1, 1] = 1.0  # joint 1 goes up and back: travels 2
    np.testing.assert_allclose(text_at_test_time.motion(x), [[0.5, 0.5]])


def test_shuffled_text_moves_every_class_and_choices_prefer_the_smaller_setting():
    perms = text_at_test_time.derangements(4, 20)
    assert len(perms) == 20 and all((p != np.arange(4)).all() for p in perms)
    assert all(sorted(p) == [0, 1, 2, 3] for p in perms)
    task = _task()
    task.k = np.full_like(task.k, 1 / task.k.shape[1])  # uniform text: every b gives the same distances
    value, acc = text_at_test_time.choose(task, "weighted")
    assert value == 0.0 and len(set(acc.values())) == 1


def test_velocity_features_are_scaled_on_the_support_set():
    rng = np.random.default_rng(1)
    support = rng.normal(size=(3, 5, 2, 3))
    f = dtw_settings.features(support, support, 1.0)
    assert f.shape == (3, 5, 12)
    pos, vel = f[..., :6], f[..., 6:]
    assert np.linalg.norm(pos, axis=-1).mean() == pytest.approx(np.linalg.norm(vel, axis=-1).mean())
    np.testing.assert_allclose(vel[:, -1], 0.0)  # the last frame repeats: no change
    np.testing.assert_array_equal(dtw_settings.features(support, support, 0.0), support.reshape(3, 5, 6))


def test_body_frame_search_starts_from_ndtw_and_orders_ties_by_fewer_settings():
    assert dtw_body_frame.SETTINGS[0] == (False, False, False)
    assert dtw_body_frame.SETTINGS[1:4] == [(True, False, False), (False, True, False), (False, False, True)]
    assert dtw_body_frame.SETTINGS[-1] == (True, True, True) and len(set(dtw_body_frame.SETTINGS)) == 8
    assert [dtw_body_frame.name(s) for s in dtw_body_frame.SETTINGS[:3]] == ["ndtw", "view", "mirror"]
    task = _task()
    np.testing.assert_array_equal(dtw_body_frame.hits(task, False, False), dtw_settings.hits(task, None, 0.0))


def test_mirrored_exemplars_find_queries_done_with_the_other_side():
    task = _task(seed=3)
    t = task.exemplars.shape[1]
    flipped = mirrored(task.queries.reshape(len(task.queries), t, -1), MSR20).reshape(task.queries.shape)
    other_side = text_at_test_time.Task(task.exemplars, task.classes, flipped, task.truth, task.k, "msr20")
    assert (
        dtw_body_frame.hits(other_side, True, False).mean()
        == dtw_body_frame.hits(task, False, False).mean()
        == 1.0
    )
    assert dtw_body_frame.hits(other_side, False, False).mean() < 1.0


def _four_classes(seed: int = 0) -> text_at_test_time.Task:
    """Four classes apart in where the body is (the descriptor's means), three queries each."""
    rng = np.random.default_rng(seed)
    ex = rng.normal(size=(4, 6, 20, 3)) + 3.0 * np.arange(4)[:, None, None, None]
    queries = np.concatenate([ex + 0.3 * rng.normal(size=ex.shape) for _ in range(3)])
    classes = np.array([0, 1, 2, 3])
    return text_at_test_time.Task(ex, classes, queries, np.tile(classes, 3), np.eye(4, 20), "msr20")


def test_semantic_prior_without_text_is_ndtw_itself():
    task = _task()
    scored = semantic_prior.Scored.of(task)
    columns, rows = np.arange(3), np.arange(len(task.truth))
    np.testing.assert_allclose(scored.ndtw(columns), text_at_test_time.weighted_distances(task, task.k, 0.0))
    ndtw = text_at_test_time.weighted_distances(task, task.k, 0.0)
    tmap = semantic_prior.fitted(scored, {c: np.eye(3)[c - 6] for c in (6, 7, 8)}, 1.0)
    np.testing.assert_array_equal(
        semantic_prior.hits(scored, rows, columns, np.eye(3), tmap, 0.0),
        text_at_test_time.hits(task, "weighted", 0.0, task.k, ndtw),
    )
    # a support set of two: each exemplar scaled by its distance to the other one alone
    pair = scored.ndtw(np.array([0, 2]))
    between = exemplar_distances(scored.exemplars[[0]], scored.exemplars[[2]])[0, 0]
    np.testing.assert_allclose(pair, scored.raw[:, [0, 2]] / between)


def test_the_text_map_names_the_class_whose_description_it_was_fitted_to():
    task = _four_classes()
    vectors = {c + 1: v for c, v in enumerate(np.eye(4, 8))}
    scored = semantic_prior.Scored.of(task)
    tmap = semantic_prior.fitted(scored, vectors, 1e-3)
    assert semantic_prior.zero_shot(scored, tmap, np.eye(4, 8)).mean() == 1.0
    # the same map, the texts given to the wrong classes: every query goes to the wrong class
    assert semantic_prior.zero_shot(scored, tmap, np.eye(4, 8)[[1, 2, 3, 0]]).mean() == 0.0
    d = semantic_prior.descriptor(task.queries)
    assert d.shape == (12, 200)
    np.testing.assert_allclose(d[:, :60], task.queries.mean(1).reshape(12, 60))
    np.testing.assert_allclose(d[:, 180:].sum(1), 1.0)  # the shares of travel


def test_semantic_prior_choices_are_made_on_halves_and_prefer_the_smaller_setting():
    task = _four_classes(seed=1)
    same_text = {c + 1: np.ones(8) for c in range(4)}  # one text for every class: it cannot tell them apart
    (alpha, lam), acc = semantic_prior.choose(semantic_prior.Scored.of(task), same_text)
    assert (alpha, lam) == (semantic_prior.ALPHAS[0], 0.0)
    assert len(acc) == len(semantic_prior.ALPHAS) * len(semantic_prior.LAMS) and len(set(acc.values())) == 1


SMALL_HELD = """name = "synthetic-small-held"
dataset = "synthetic"
num_classes = 40
base_classes = [1, 4, 5, 7]
novel_classes = [3, 8]
exemplar_pattern = "S101C001P001R001A{class_id:03d}"
"""


def test_synthetic_text_at_test_runs_the_three_forms_on_true_text(tmp_path):
    """Real synthetic clips and the oracle's texts: every form is scored against the same ``ndtw``."""
    data = tmp_path / "d"
    res = run_script(
        "crossglg", "data", "synth", "--out", data, "--per-class", "3", "--classes", "1,3,4,5,7,8"
    )
    assert res.returncode == 0, res.stderr
    oracle = tmp_path / "oracle.jsonl"
    script = synthetic_text_at_test.REPO / "bench" / "synthetic_oracle_text.py"
    subprocess.run([sys.executable, str(script), str(oracle)], check=True)
    protocol = tmp_path / "held.toml"
    protocol.write_text(SMALL_HELD)

    base = load_protocol(
        str(synthetic_text_at_test.base_protocol(protocol, tmp_path / "base.toml")), "synthetic"
    )
    assert list(base.novel_class_ids) == [1, 4, 5, 7] and base.exemplars[0] == "S101C001P001R001A001"
    doc = synthetic_text_at_test.run(data, oracle, protocol, tmp_path)
    rows = {r["split"]: r for r in doc["rows"]}
    assert list(rows) == ["weighted", "prior", "semantic"]
    assert {r["queries"] for r in rows.values()} == {4}  # 2 held-out classes x (3 clips - the exemplar)
    assert len({r["no text"] for r in rows.values()}) == 1  # one ndtw for every form
    assert set(rows["semantic"]["auxiliary"]) == {
        f"alpha={a:g} lam={lam:g}" for a in semantic_prior.ALPHAS for lam in semantic_prior.LAMS
    }
