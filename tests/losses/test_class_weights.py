import numpy as np
import pytest
import torch

from losses.class_weights import class_priors, effective_number_weights, inverse_frequency_weights
from tests.losses import numpy_reference as ref


def test_inverse_frequency_keeps_the_example_weighted_mean_at_one(class_counts):
    weights = inverse_frequency_weights(class_counts)
    np.testing.assert_allclose(weights.numpy(), ref.inverse_freq_weights(class_counts.numpy()))
    assert float((weights * class_counts).sum() / class_counts.sum()) == pytest.approx(1.0)


def test_effective_number_sums_to_k_and_interpolates(class_counts):
    for beta in (0.9, 0.999, 0.9999):
        weights = effective_number_weights(class_counts, beta)
        expected = ref.effective_number_weights(class_counts.numpy(), beta)
        np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-12)
        assert float(weights.sum()) == pytest.approx(len(class_counts))
    assert torch.equal(
        effective_number_weights(class_counts, 0.0), torch.ones(30, dtype=torch.float64)
    )


def test_priors_sum_to_one(class_counts):
    assert float(class_priors(class_counts).sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("weights", [inverse_frequency_weights, class_priors])
def test_zero_counts_are_named(weights):
    with pytest.raises(ValueError, match=r"classes \[1\] have count 0"):
        weights(torch.tensor([5, 0, 3]))
