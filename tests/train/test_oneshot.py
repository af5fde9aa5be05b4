"""One-shot classifiers and the accuracy report against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from crossglg.train.oneshot import BaseStats, DCConfig, cosine_predict, dc_scores, report, tukey


def test_cosine_nearest_exemplar_matches_hand_computation():
    support = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 5.0]])
    labels = np.array([11, 12, 13])
    queries = np.array([[3.0, 1.0, 0.0], [0.1, 0.2, 0.1], [0.0, 0.1, 0.2], [0.0, 0.0, 0.0001]])
    # cosine ignores length: [0.1, 0.2, 0.1] is closest in angle to the y axis
    assert cosine_predict(support, labels, queries).tolist() == [11, 12, 13, 13]


def test_k_shot_cosine_uses_the_mean_of_unit_exemplars():
    support = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]])
    labels = np.array([1, 1, 2])
    # class 1's prototype points at 45°; the query at 100° is nearer to it than to class 2
    q = np.array([[np.cos(np.radians(100)), np.sin(np.radians(100))]])
    assert cosine_predict(support, labels, q).tolist() == [1]
    assert cosine_predict(support[[0, 2]], labels[[0, 2]], q).tolist() == [2]


def test_report_accuracy_per_class_and_confusion():
    truth = np.array([1, 1, 1, 2, 2, 3])
    pred = np.array([1, 2, 1, 2, 2, 1])
    r = report(truth, pred, [1, 2, 3])
    assert r.accuracy == 4 / 6
    assert r.per_class == {1: 2 / 3, 2: 1.0, 3: 0.0}
    assert r.confusion.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert r.to_json()["per_class"]["1"] == 2 / 3


def test_base_stats_are_tukey_transformed_means_and_covariances():
    z = np.array([[1.0, 4.0], [9.0, 16.0], [4.0, 4.0], [4.0, 4.0], [4.0, 4.0]])
    labels = np.array([0, 0, 1, 1, 1])
    stats = BaseStats.from_embeddings(z, labels, beta=0.5)
    np.testing.assert_allclose(stats.means, [[2.0, 3.0], [2.0, 2.0]])
    np.testing.assert_allclose(stats.covs[0], np.cov(np.sqrt(z[:2]), rowvar=False))
    np.testing.assert_allclose(stats.covs[1], 0.0)
    np.testing.assert_allclose(tukey(np.array([-1.0, 4.0]), 0.5), [0.0, 2.0])


def test_distribution_calibration_separates_well_separated_classes():
    rng = np.random.default_rng(0)
    centres = np.array(
        [[4.0, 0.1, 0.1, 0.1], [0.1, 4.0, 0.1, 0.1], [0.1, 0.1, 4.0, 0.1], [0.1, 0.1, 0.1, 4.0]]
    )
    base_z = np.concatenate([np.abs(c + 0.3 * rng.standard_normal((30, 4))) for c in centres[:2]])
    base = BaseStats.from_embeddings(base_z, np.repeat([0, 1], 30), beta=0.5)
    support = centres[2:]
    queries = np.abs(np.concatenate([c + 0.3 * rng.standard_normal((20, 4)) for c in centres[2:]]))
    truth = np.repeat([7, 8], 20)
    classes, proba = dc_scores(support, np.array([7, 8]), queries, base, DCConfig(samples=200), seed=0)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    pred = classes[np.argmax(proba, axis=1)]
    assert (pred == truth).mean() >= 0.95
    # the same seed gives the same classifier
    again = dc_scores(support, np.array([7, 8]), queries, base, DCConfig(samples=200), seed=0)[1]
    np.testing.assert_array_equal(proba, again)


def _readouts(support, labels, queries, mean=None, **kw):
    from crossglg.train.oneshot import AuxStats, Readouts

    return Readouts(support, np.asarray(labels), queries, AuxStats(mean=mean), DCConfig(), **kw)


def test_cl2n_removes_an_offset_shared_by_every_feature():
    from crossglg.train.oneshot import Features

    offset = np.array([10.0, 0.0, 0.0])
    # the exemplar of class 2 lies nearer the shared offset, so raw cosine pulls the query there
    support = np.array([[0.0, 3.0, 0.0], [0.0, 0.0, 0.5]]) + offset
    query = np.array([[0.0, 0.5, 0.0]]) + offset
    one_frame = lambda z: Features(z=z, frames=z[:, None, :])  # noqa: E731
    r = _readouts(one_frame(support), [1, 2], one_frame(query), mean=offset)
    assert r.predict("cosine").tolist() == [2]
    assert r.predict("cl2n").tolist() == [1]
    # any further shared shift, known to the auxiliary mean, leaves CL2N's scores unchanged
    shift = np.array([-4.0, 7.0, 2.0])
    moved = _readouts(one_frame(support + shift), [1, 2], one_frame(query + shift), mean=offset + shift)
    np.testing.assert_allclose(moved.scores("cl2n")[1], r.scores("cl2n")[1], atol=1e-12)


def test_feature_dtw_is_invariant_to_a_time_warp_of_the_query():
    from crossglg.train.oneshot import Features

    rng = np.random.default_rng(3)
    a = rng.normal(size=(8, 5))
    b = a[::-1].copy()  # the same frames backwards: equal pooled features, opposite order
    support = Features(z=np.abs(np.stack([a.mean(0), b.mean(0)])), frames=np.stack([a, b]))
    warp = np.array([0, 0, 0, 1, 2, 3, 3, 4, 5, 6, 7, 7])  # 8 frames played in 12: slow start and end
    q = np.stack([a[warp], b[warp]])
    queries = Features(z=np.abs(q.mean(1)), frames=q)
    r = _readouts(support, [1, 2], queries, mean=np.zeros(5))
    assert r.predict("fdtw").tolist() == [1, 2]
    _, scores = r.scores("fdtw")
    # the warped query aligns with its own exemplar at zero cost
    np.testing.assert_allclose(scores[0, 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(scores[1, 1], 0.0, atol=1e-7)
    # pooling over time cannot tell the two apart: both exemplars score the same
    _, cos = r.scores("cl2n")
    np.testing.assert_allclose(cos[:, 0], cos[:, 1], atol=1e-12)


def test_fused_score_is_the_fixed_weight_mix_of_standardised_cl2n_and_calibrated_joint_dtw():
    from crossglg.train.oneshot import FUSION_WEIGHT, Features, standardise

    rng = np.random.default_rng(4)
    frames = rng.normal(size=(5, 4, 6))
    joints = rng.normal(size=(5, 10, 9))
    support = Features(z=np.abs(frames[:3].mean(1)), frames=frames[:3], joints=joints[:3])
    queries = Features(z=np.abs(frames[3:].mean(1)), frames=frames[3:], joints=joints[3:])
    labels = [4, 5, 6]
    for w in (0.0, 0.3, 1.0):
        r = _readouts(support, labels, queries, mean=frames.mean((0, 1)), fusion_weight=w)
        want = w * standardise(r.scores("cl2n")[1]) + (1 - w) * standardise(r.scores("ndtw")[1])
        np.testing.assert_allclose(r.scores("fused")[1], want)
        assert not np.allclose(standardise(r.scores("ndtw")[1]), standardise(r.scores("dtw")[1]))
    assert r.predict("fused").tolist() == r.predict("cl2n").tolist()  # weight 1: the learned score alone
    assert FUSION_WEIGHT == 0.2  # chosen on the held-out auxiliary fold (docs/TRAINING.md, "Read-outs")
    s = standardise(np.array([[1.0, 2.0, 6.0]]))
    np.testing.assert_allclose([s.mean(), s.std()], [0.0, 1.0], atol=1e-12)


def test_joint_dtw_readouts_equal_the_baseline():
    from crossglg.baselines.dtw import dtw_distances, exemplar_scales
    from crossglg.train.oneshot import Features

    rng = np.random.default_rng(5)
    joints = rng.normal(size=(9, 12, 6))
    labels = np.array([3, 1, 2])
    r = _readouts(
        Features(z=np.ones((3, 2)), joints=joints[:3]), labels, Features(z=np.ones((6, 2)), joints=joints[3:])
    )
    d = dtw_distances(joints[3:], joints[:3])  # exemplars in label order 3, 1, 2; classes sort to 1, 2, 3
    order = np.argsort(labels)
    np.testing.assert_allclose(r.scores("dtw")[1], -d[:, order])
    scales = exemplar_scales(joints[:3], labels)
    np.testing.assert_allclose(r.scores("ndtw")[1], -d[:, order] / scales)
    assert r.predict("dtw").tolist() == labels[d.argmin(1)].tolist()


def test_classifier_names_and_missing_inputs_are_clear_user_errors():
    import pytest

    from crossglg.errors import UserError
    from crossglg.train.oneshot import CLASSIFIERS, Features, resolve_classifiers

    assert resolve_classifiers(["all"]) == CLASSIFIERS
    assert resolve_classifiers(["dtw", "cosine", "dtw"]) == ("dtw", "cosine")
    with pytest.raises(UserError, match="'knn'"):
        resolve_classifiers(["knn"])
    r = _readouts(Features(z=np.eye(2)), [1, 2], Features(z=np.eye(2)))
    assert r.predict("cosine").tolist() == [1, 2]
    for name, what in (
        ("cl2n", "auxiliary mean"),
        ("dc", "base_stats"),
        ("dtw", "joints"),
        ("fused", "mean"),
    ):
        with pytest.raises(UserError, match=f"--classifier {name}: needs .*{what}"):
            r.predict(name)


def test_joint_feature_dtw_centres_per_joint_and_normalises_each_frame():
    from crossglg.baselines.dtw import dtw_distances
    from crossglg.errors import UserError
    from crossglg.train.oneshot import AuxStats, DCConfig, Features, Readouts, joint_cl2n

    rng = np.random.default_rng(7)
    frames = rng.normal(size=(5, 4, 3, 2))  # [N, T', V, C]
    centre = rng.normal(size=(3, 2))
    flat = joint_cl2n(frames, centre)
    assert flat.shape == (5, 4, 6)
    np.testing.assert_allclose(np.linalg.norm(flat, axis=-1), 1.0)
    np.testing.assert_allclose(
        flat[2, 1] * np.linalg.norm(frames[2, 1] - centre), (frames[2, 1] - centre).ravel()
    )
    sup = Features(z=np.ones((2, 2)), joint_frames=frames[:2])
    query = Features(z=np.ones((3, 2)), joint_frames=frames[2:])
    r = Readouts(sup, np.array([4, 9]), query, AuxStats(joint_mean=centre), DCConfig())
    np.testing.assert_allclose(r.scores("jfdtw")[1], -dtw_distances(flat[2:], flat[:2]))
    with pytest.raises(UserError, match="jfdtw: needs the auxiliary mean of the per-joint features"):
        Readouts(sup, np.array([4, 9]), query, AuxStats(), DCConfig()).predict("jfdtw")


def test_jfdtw_is_left_out_when_its_query_features_would_not_fit(capsys):
    from crossglg.errors import UserError
    from crossglg.train.evaluate import JOINT_FRAMES_BUDGET, within_joint_budget
    from crossglg.train.oneshot import Features

    every = ("cosine", "jfdtw", "ndtw")
    one_kib = Features(z=np.zeros((1, 2)), joint_frames=np.zeros((1, 4, 2, 16), np.float32))  # 512 B each
    support = Features(z=np.zeros((2, 2)), joint_frames=np.zeros((2, 8, 2, 16), np.float32))  # 1 KiB each
    assert within_joint_budget(every, support, JOINT_FRAMES_BUDGET // 1024) == every  # exactly the budget
    assert within_joint_budget(every, support, JOINT_FRAMES_BUDGET // 1024 + 1) == ("cosine", "ndtw")
    err = capsys.readouterr().err.strip()
    assert err == "left out jfdtw: 1048577 queries need 1.0 GiB of per-joint features (limit 1 GiB)"
    assert within_joint_budget(every, one_kib, JOINT_FRAMES_BUDGET // 1024 + 1) == every  # half the size
    assert within_joint_budget(every, Features(z=np.zeros((2, 2))), 10**9) == every  # nothing kept
    with pytest.raises(UserError, match=r"--classifier jfdtw: 3000000 queries need 2\.9 GiB"):
        within_joint_budget(("jfdtw",), support, 3_000_000)


class _Fixed:
    """A score source with given scores (what a model's Readouts would give)."""

    def __init__(self, classes: list[int], scores: list[list[float]]) -> None:
        self.classes, self.values = np.array(classes), np.array(scores, dtype=float)

    def scores(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.classes, self.values


def test_an_ensemble_averages_standardised_scores():
    from crossglg.errors import UserError
    from crossglg.train.oneshot import Ensemble

    # query 0: model a prefers class 7 on a large scale, model b prefers 8 more sharply on a small one
    a = _Fixed([7, 8, 9], [[10.0, 0.0, -10.0], [0.0, 1.0, 2.0]])
    b = _Fixed([7, 8, 9], [[0.1, 0.25, 0.0], [0.0, 1.0, 2.0]])
    classes, mean = Ensemble([a, b]).scores("cosine")
    z = lambda s: (np.array(s) - np.mean(s)) / np.std(s)  # noqa: E731
    np.testing.assert_allclose(mean[0], (z([10.0, 0.0, -10.0]) + z([0.1, 0.25, 0.0])) / 2)
    # scale does not decide (raw scores averaged would pick 7): b's sharper preference wins
    assert classes.tolist() == [7, 8, 9] and Ensemble([a, b]).predict("cosine").tolist() == [8, 9]
    assert Ensemble([a]).predict("cosine").tolist() == [7, 9]
    with pytest.raises(UserError, match="different classes"):
        Ensemble([a, _Fixed([7, 8, 10], [[0, 1, 2], [0, 1, 2]])]).scores("cosine")
    with pytest.raises(UserError, match="at least one model"):
        Ensemble([])


def test_readouts_on_one_split_share_the_model_free_scores():
    """Test-time views and ensemble members run joint DTW once: the second Readouts reuses the first's."""
    from crossglg.train.oneshot import Features

    rng = np.random.default_rng(6)
    joints = rng.normal(size=(5, 8, 6))
    store: dict = {}
    views = [
        _readouts(Features(z=rng.normal(size=(2, 3)), joints=joints[:2]), [1, 2],
                  Features(z=rng.normal(size=(3, 3)), joints=joints[2:]), model_free=store)
        for _ in range(2)
    ]  # fmt: skip
    first = views[0].scores("ndtw")
    assert set(store) == {"ndtw"} and views[1].scores("ndtw") is first
    assert (
        views[0].scores("cosine")[1] is not views[1].scores("cosine")[1]
    )  # the learned ones stay each model's
    assert set(store) == {"ndtw"}
