import pytest
import torch

from losses import build_criterion
from tests.losses import numpy_reference as ref
from tests.losses.helpers import NUM_LABELS, loss_value


@pytest.mark.parametrize("epsilon", [-1.0, -0.5, 1.0, 2.0, 8.0])
def test_matches_reference(batch, epsilon):
    logits, labels = batch
    poly = build_criterion("poly1", NUM_LABELS, epsilon=epsilon)
    expected = ref.reduce(ref.poly1(logits, labels, epsilon), labels)
    assert loss_value(poly, logits, labels) == pytest.approx(expected, rel=1e-10)


def test_epsilon_zero_is_exactly_cross_entropy(batch):
    logits, labels = (torch.from_numpy(a) for a in batch)
    poly = build_criterion("poly1", NUM_LABELS, epsilon=0.0)
    assert torch.equal(poly(logits, labels), build_criterion("ce", NUM_LABELS)(logits, labels))
