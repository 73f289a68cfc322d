"""klue_re_metrics against independent computations on crafted cases."""

import itertools

import numpy as np
import pytest
import torch

from trainable.metrics import klue_re_metrics

LABELS = ["no_relation", "org:a", "org:b", "per:c"]


def one_hot_logits(predictions, margin=5.0):
    logits = np.zeros((len(predictions), len(LABELS)))
    logits[np.arange(len(predictions)), predictions] = margin
    return logits


def hand_micro_f1(labels, predictions, excluded=0):
    """Micro-F1 from TP/FP/FN counted by hand over the relation classes only."""
    tp = sum(1 for y, p in zip(labels, predictions, strict=True) if p == y and y != excluded)
    fp = sum(1 for y, p in zip(labels, predictions, strict=True) if p != excluded and p != y)
    fn = sum(1 for y, p in zip(labels, predictions, strict=True) if y != excluded and p != y)
    return 100.0 * 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def hand_auprc_one_class(positives, scores):
    """Trapezoidal area under the PR curve, written out point by point (no sklearn)."""
    thresholds = np.unique(scores)[::-1]
    points = []
    for threshold in thresholds:
        predicted = scores >= threshold
        tp = np.sum(predicted & positives)
        points.append((tp / positives.sum(), tp / predicted.sum()))
    points = [(0.0, 1.0), *points]
    return sum((r1 - r0) * (p0 + p1) / 2 for (r0, p0), (r1, p1) in itertools.pairwise(points))


def test_all_no_relation_predictions_score_zero():
    labels = np.array([0, 1, 2, 3, 1])
    scores = klue_re_metrics(one_hot_logits([0] * 5), labels, LABELS)
    assert scores["micro_f1"] == 0.0
    assert scores["accuracy"] == pytest.approx(20.0)


def test_perfect_predictions_score_100():
    labels = np.array([0, 1, 2, 3, 1, 0])
    scores = klue_re_metrics(one_hot_logits(labels), labels, LABELS)
    assert scores["micro_f1"] == pytest.approx(100.0)
    assert scores["auprc"] == pytest.approx(100.0)
    assert scores["accuracy"] == pytest.approx(100.0)
    assert all(f1 == pytest.approx(100.0) for f1 in scores["per_class_f1"].values())


def test_no_relation_is_excluded_unlike_micro_f1_over_all_labels():
    labels = [0, 0, 0, 0, 1, 2, 3, 1]
    predictions = [0, 0, 0, 1, 1, 0, 3, 2]
    scores = klue_re_metrics(one_hot_logits(predictions), np.array(labels), LABELS)
    assert scores["micro_f1"] == pytest.approx(hand_micro_f1(labels, predictions))
    over_all_labels = 100.0 * np.mean(np.array(labels) == np.array(predictions))
    assert scores["micro_f1"] != pytest.approx(over_all_labels)
    assert scores["accuracy"] == pytest.approx(over_all_labels)


def test_auprc_uses_softmax_probabilities_and_skips_absent_classes():
    rng = np.random.default_rng(7)
    labels = np.array([0, 1, 1, 2, 0, 2, 1, 0, 0, 2])  # class 3 never occurs
    logits = rng.normal(size=(10, 4)) + 2.0 * np.eye(4)[labels] * rng.random((10, 1))
    scores = klue_re_metrics(logits, labels, LABELS)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = np.mean([hand_auprc_one_class(labels == c, probabilities[:, c]) for c in range(3)])
    assert scores["auprc"] == pytest.approx(100.0 * expected)
    assert scores["auprc_classes_skipped"] == 1
    assert np.isfinite(scores["auprc"])


def test_ce_loss_is_plain_cross_entropy():
    rng = np.random.default_rng(3)
    logits, labels = rng.normal(size=(16, 4)) * 3, rng.integers(0, 4, 16)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
    assert klue_re_metrics(logits, labels, LABELS)["ce_loss"] == pytest.approx(float(expected))


def test_per_class_f1_by_label_name():
    labels = np.array([1, 1, 2, 2])
    predictions = [1, 2, 2, 2]
    per_class = klue_re_metrics(one_hot_logits(predictions), labels, LABELS)["per_class_f1"]
    assert list(per_class) == LABELS
    assert per_class["org:a"] == pytest.approx(100 * 2 * 1 / (2 * 1 + 0 + 1))
    assert per_class["org:b"] == pytest.approx(100 * 2 * 2 / (2 * 2 + 1 + 0))


@pytest.mark.parametrize(
    ("logits", "labels", "message"),
    [
        (np.zeros((3, 5)), np.zeros(3), r"expected logits of shape \(3, 4\), got \(3, 5\)"),
        (np.zeros((0, 4)), np.zeros(0), "cannot score an empty split"),
    ],
)
def test_bad_shapes(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        klue_re_metrics(logits, labels, LABELS)
