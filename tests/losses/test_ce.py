import numpy as np
import pytest
import torch

from losses import build_criterion
from tests.losses import numpy_reference as ref
from tests.losses.helpers import NUM_LABELS, loss_value


def test_unweighted_matches_reference_and_torch(batch):
    logits, labels = batch
    ce = build_criterion("ce", NUM_LABELS)
    expected = ref.reduce(ref.ce(logits, labels), labels)
    assert loss_value(ce, logits, labels) == pytest.approx(expected, rel=1e-12)
    torch_ce = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
    assert loss_value(ce, logits, labels) == pytest.approx(float(torch_ce), rel=1e-12)


def test_explicit_weight_vector_scales_by_target_and_divides_by_count(batch):
    logits, labels = batch
    weight = np.linspace(0.5, 2.0, NUM_LABELS)
    ce = build_criterion("ce", NUM_LABELS, weight=weight.tolist())
    expected = ref.reduce(ref.ce(logits, labels, weight), labels)
    assert loss_value(ce, logits, labels) == pytest.approx(expected, rel=1e-12)


def test_inverse_freq_weights_come_from_class_counts(batch, class_counts):
    logits, labels = batch
    ce = build_criterion("ce", NUM_LABELS, weight="inverse_freq", class_counts=class_counts)
    weight = ref.inverse_freq_weights(class_counts.numpy())
    expected = ref.reduce(ref.ce(logits, labels, weight), labels)
    assert loss_value(ce, logits, labels) == pytest.approx(expected, rel=1e-12)


def test_inverse_freq_without_class_counts_is_rejected():
    with pytest.raises(ValueError, match=r"ce: class_counts .* required for weight='inverse_freq'"):
        build_criterion("ce", NUM_LABELS, weight="inverse_freq")
