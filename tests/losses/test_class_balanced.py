import pytest
import torch

from losses import build_criterion
from tests.losses import numpy_reference as ref
from tests.losses.helpers import NUM_LABELS, loss_value


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999, 0.9999])
def test_ce_base_matches_reference(batch, class_counts, beta):
    logits, labels = batch
    balanced = build_criterion("class_balanced", NUM_LABELS, beta=beta, class_counts=class_counts)
    weight = ref.effective_number_weights(class_counts.numpy(), beta)
    expected = ref.reduce(ref.ce(logits, labels, weight), labels)
    assert loss_value(balanced, logits, labels) == pytest.approx(expected, rel=1e-10)


def test_focal_base_matches_reference(batch, class_counts):
    logits, labels = batch
    balanced = build_criterion(
        "class_balanced", NUM_LABELS, beta=0.999, base="focal", gamma=0.5, class_counts=class_counts
    )
    weight = ref.effective_number_weights(class_counts.numpy(), 0.999)
    expected = ref.reduce(ref.focal(logits, labels, 0.5, weight), labels)
    assert loss_value(balanced, logits, labels) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("base", "params"), [("ce", {}), ("focal", {"gamma": 2.0})])
def test_beta_zero_is_exactly_the_unweighted_base(batch, class_counts, base, params):
    logits, labels = (torch.from_numpy(a) for a in batch)
    balanced = build_criterion(
        "class_balanced", NUM_LABELS, beta=0.0, base=base, class_counts=class_counts, **params
    )
    plain = build_criterion(base, NUM_LABELS, **params)
    assert torch.equal(balanced(logits, labels), plain(logits, labels))


def test_rare_classes_weigh_more(class_counts):
    # The same mistake costs more on a rare relation (per:place_of_death, 40) than on no_relation.
    balanced = build_criterion("class_balanced", NUM_LABELS, beta=0.999, class_counts=class_counts)
    logits = torch.zeros(1, NUM_LABELS)
    assert float(balanced(logits, torch.tensor([15]))) > float(balanced(logits, torch.tensor([0])))


def test_gamma_with_ce_base_is_rejected(class_counts):
    with pytest.raises(ValueError, match='class_balanced: gamma applies only with base="focal"'):
        build_criterion("class_balanced", NUM_LABELS, gamma=2.0, class_counts=class_counts)
