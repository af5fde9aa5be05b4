"""One-shot classifiers and the accuracy report against hand computations."""

from __future__ import annotations

import numpy as np

from crossglg.train.oneshot import BaseStats, DCConfig, cosine_predict, dc_predict, report, tukey


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
    pred = dc_predict(support, np.array([7, 8]), queries, base, DCConfig(samples=200), seed=0)
    assert (pred == truth).mean() >= 0.95
    # the same seed gives the same classifier
    again = dc_predict(support, np.array([7, 8]), queries, base, DCConfig(samples=200), seed=0)
    assert (pred == again).all()
