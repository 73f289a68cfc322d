import pytest
import torch

from losses import build_criterion
from tests.losses import numpy_reference as ref
from tests.losses.helpers import NUM_LABELS, loss_value


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_matches_reference(batch, class_counts, tau):
    logits, labels = batch
    adjusted = build_criterion("logit_adjusted", NUM_LABELS, tau=tau, class_counts=class_counts)
    expected = ref.reduce(ref.logit_adjusted(logits, labels, tau, class_counts.numpy()), labels)
    assert loss_value(adjusted, logits, labels) == pytest.approx(expected, rel=1e-10)


def test_tau_zero_is_exactly_cross_entropy(batch, class_counts):
    logits, labels = (torch.from_numpy(a) for a in batch)
    adjusted = build_criterion("logit_adjusted", NUM_LABELS, tau=0.0, class_counts=class_counts)
    assert torch.equal(adjusted(logits, labels), build_criterion("ce", NUM_LABELS)(logits, labels))


def test_requires_every_class_in_the_counts(class_counts):
    counts = class_counts.clone()
    counts[15] = 0
    with pytest.raises(
        ValueError, match=r"class priors needs every class .* classes \[15\] have count 0"
    ):
        build_criterion("logit_adjusted", NUM_LABELS, class_counts=counts)
