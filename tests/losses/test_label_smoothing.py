import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losses import build_criterion
from tests.losses import numpy_reference as ref
from tests.losses.helpers import NUM_LABELS, loss_value


@pytest.mark.parametrize("epsilon", [0.05, 0.1, 0.3, 0.9])
def test_torch_convention_matches_reference_and_torch(batch, epsilon):
    logits, labels = batch
    smoothing = build_criterion("label_smoothing", NUM_LABELS, smoothing=epsilon)
    expected = ref.reduce(ref.label_smoothing_torch(logits, labels, epsilon), labels)
    assert loss_value(smoothing, logits, labels) == pytest.approx(expected, rel=1e-10)
    torch_value = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits), torch.from_numpy(labels), label_smoothing=epsilon
    )
    assert loss_value(smoothing, logits, labels) == pytest.approx(float(torch_value), rel=1e-10)


@pytest.mark.parametrize("s", [0.05, 0.1, 0.3, 0.95])
def test_seed_convention_matches_reference(batch, s):
    logits, labels = batch
    smoothing = build_criterion("label_smoothing", NUM_LABELS, smoothing=s, convention="seed")
    expected = ref.reduce(ref.label_smoothing_seed(logits, labels, s), labels)
    assert loss_value(smoothing, logits, labels) == pytest.approx(expected, rel=1e-10)


def test_weight_applies_by_target_class_only(batch):
    logits, labels = batch
    weight = np.linspace(0.2, 3.0, NUM_LABELS)
    smoothing = build_criterion(
        "label_smoothing", NUM_LABELS, smoothing=0.2, weight=weight.tolist()
    )
    expected = ref.reduce(ref.label_smoothing_torch(logits, labels, 0.2, weight), labels)
    assert loss_value(smoothing, logits, labels) == pytest.approx(expected, rel=1e-10)


def test_weighted_smoothing_differs_from_torch_weight_plus_smoothing(batch):
    # pytorch#104776: torch weights the smoothing term by every class's weight; we must not.
    logits, labels = batch
    weight = np.linspace(0.2, 3.0, NUM_LABELS)
    ours = loss_value(
        build_criterion("label_smoothing", NUM_LABELS, smoothing=0.2, weight=weight.tolist()),
        logits,
        labels,
    )
    valid = labels != -100
    torch_sum = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits),
        torch.from_numpy(labels),
        weight=torch.from_numpy(weight),
        label_smoothing=0.2,
        reduction="sum",
    )
    assert ours != pytest.approx(float(torch_sum) / valid.sum(), rel=1e-3)


def test_zero_smoothing_is_exactly_cross_entropy(batch):
    logits, labels = (torch.from_numpy(a) for a in batch)
    ce = build_criterion("ce", NUM_LABELS)(logits, labels)
    for convention in ("torch", "seed"):
        smoothing = build_criterion(
            "label_smoothing", NUM_LABELS, smoothing=0.0, convention=convention
        )
        assert torch.equal(smoothing(logits, labels), ce)


@settings(max_examples=60, deadline=None)
@given(
    num_classes=st.integers(2, 40),
    batch_size=st.integers(1, 16),
    s=st.floats(0.0, 0.99),
    seed=st.integers(0, 2**31 - 1),
)
def test_seed_convention_equals_torch_with_rescaled_epsilon(num_classes, batch_size, s, seed):
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(0, 4, size=(batch_size, num_classes)))
    labels = torch.from_numpy(rng.integers(0, num_classes, size=batch_size))
    seed_loss = build_criterion("label_smoothing", num_classes, smoothing=s, convention="seed")
    epsilon = s * num_classes / (num_classes - 1)
    # The torch-convention formula with epsilon >= 1 is outside our validated range, so compare
    # against the reference directly when the rescaled epsilon leaves [0, 1).
    expected = ref.reduce(
        ref.label_smoothing_torch(logits.numpy(), labels.numpy(), epsilon), labels.numpy()
    )
    assert float(seed_loss(logits, labels)) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if epsilon < 1:
        torch_loss = build_criterion("label_smoothing", num_classes, smoothing=epsilon)
        assert float(seed_loss(logits, labels)) == pytest.approx(
            float(torch_loss(logits, labels)), rel=1e-9
        )


def test_k_comes_from_the_logits_not_a_default():
    # The seed's code later defaulted to 11 classes on 30-class logits; ours must refuse that.
    smoothing = build_criterion("label_smoothing", 11, smoothing=0.1)
    with pytest.raises(
        ValueError, match="logits have 30 classes but the criterion was built for num_labels=11"
    ):
        smoothing(torch.zeros(2, 30), torch.tensor([0, 1]))
