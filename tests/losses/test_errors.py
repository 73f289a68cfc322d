"""Bad parameters fail at construction with the criterion, parameter, value and allowed range."""

import re

import pytest
import torch

from losses import build_criterion
from tests.losses.helpers import KLUE_TRAIN_COUNTS, NUM_LABELS

BAD = [
    # (name, params, expected message)
    (
        "facol",
        {},
        "unknown criterion 'facol'; known criteria: ce, focal, label_smoothing, "
        "class_balanced, poly1, logit_adjusted",
    ),
    ("focal", {"gamma": -1.0}, "focal: gamma must be >= 0, but got -1.0"),
    ("focal", {"gamma": float("nan")}, "focal: gamma must be >= 0, but got nan"),
    ("focal", {"gamma": "2"}, "focal: gamma must be >= 0, but got '2'"),
    ("focal", {"gamma": True}, "focal: gamma must be >= 0, but got True"),
    (
        "focal",
        {"gama": 2.0},
        "focal: unknown parameter 'gama'; known parameters: gamma, alpha, beta",
    ),
    (
        "focal",
        {"alpha": 0.25},
        "focal: alpha must be a list of K non-negative numbers, 'inverse_freq', 'effective_number' "
        "or None, but got 0.25",
    ),
    ("focal", {"alpha": [1.0] * 29}, "focal: alpha must have one entry per class (30), but got 29"),
    ("focal", {"alpha": [-1.0] + [1.0] * 29}, "focal: alpha entries must be finite and >= 0"),
    (
        "focal",
        {"alpha": "balanced"},
        "focal: alpha must be a list of K non-negative numbers, 'inverse_freq', 'effective_number' "
        "or None, but got 'balanced'",
    ),
    ("focal", {"beta": 1.0}, "focal: beta must be >= 0 and < 1, but got 1.0"),
    (
        "label_smoothing",
        {"smoothing": 1.0},
        "label_smoothing: smoothing must be >= 0 and < 1, but got 1.0",
    ),
    (
        "label_smoothing",
        {"smoothing": -0.1},
        "label_smoothing: smoothing must be >= 0 and < 1, but got -0.1",
    ),
    (
        "label_smoothing",
        {"convention": "hf"},
        "label_smoothing: convention must be one of 'torch', 'seed', but got 'hf'",
    ),
    ("ce", {"weight": [1.0] * 31}, "ce: weight must have one entry per class (30), but got 31"),
    (
        "ce",
        {"weight": "effective_number"},
        "ce: weight must be a list of K non-negative numbers, 'inverse_freq' or None, "
        "but got 'effective_number'",
    ),
    (
        "ce",
        {"weight": "inverse_freq"},
        "ce: class_counts (train-split label counts) are required for weight='inverse_freq'",
    ),
    ("class_balanced", {}, "class_balanced: class_counts (train-split label counts) are required"),
    (
        "class_balanced",
        {"beta": 1.0, "class_counts": KLUE_TRAIN_COUNTS},
        "class_balanced: beta must be >= 0 and < 1, but got 1.0",
    ),
    (
        "class_balanced",
        {"base": "poly1", "class_counts": KLUE_TRAIN_COUNTS},
        "class_balanced: base must be one of 'ce', 'focal', but got 'poly1'",
    ),
    ("poly1", {"epsilon": -1.5}, "poly1: epsilon must be >= -1, but got -1.5"),
    ("logit_adjusted", {}, "logit_adjusted: class_counts (train-split label counts) are required"),
    (
        "logit_adjusted",
        {"tau": -0.5, "class_counts": KLUE_TRAIN_COUNTS},
        "logit_adjusted: tau must be >= 0, but got -0.5",
    ),
    (
        "logit_adjusted",
        {"class_counts": [10] * 29},
        "logit_adjusted: class_counts must have one entry per class (30), but got 29",
    ),
    (
        "logit_adjusted",
        {"class_counts": [-1] + [10] * 29},
        "logit_adjusted: class_counts must be counts >= 0",
    ),
]


@pytest.mark.parametrize(("name", "params", "message"), BAD, ids=[m[:40] for *_, m in BAD])
def test_bad_parameters_are_rejected_with_a_precise_message(name, params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_criterion(name, NUM_LABELS, **params)


@pytest.mark.parametrize("num_labels", [1, 0, 2.5, True])
def test_bad_num_labels(num_labels):
    with pytest.raises(ValueError, match="ce: num_labels must be an integer >= 2"):
        build_criterion("ce", num_labels)


def test_none_parameters_fall_back_to_defaults():
    # A key left empty in YAML arrives as None and must mean "use the default", as in timm.
    focal = build_criterion("focal", NUM_LABELS, gamma=None, alpha=None)
    assert focal.gamma == 2.0


def test_non_tensor_outputs_are_a_type_error():
    with pytest.raises(TypeError, match="expected logits or a model output with 'logits', got str"):
        build_criterion("ce", NUM_LABELS)("logits", torch.tensor([0]))
