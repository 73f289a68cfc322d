import numpy as np
import pytest
import torch

from losses import build_criterion
from tests.losses import numpy_reference as ref
from tests.losses.helpers import NUM_LABELS, loss_value


@pytest.mark.parametrize("gamma", [0.25, 0.5, 1.0, 2.0, 5.0])
def test_matches_reference(batch, gamma):
    logits, labels = batch
    focal = build_criterion("focal", NUM_LABELS, gamma=gamma)
    expected = ref.reduce(ref.focal(logits, labels, gamma), labels)
    assert loss_value(focal, logits, labels) == pytest.approx(expected, rel=1e-10)


def test_alpha_vector_weights_the_target_class(batch):
    logits, labels = batch
    alpha = np.linspace(2.0, 0.1, NUM_LABELS)
    focal = build_criterion("focal", NUM_LABELS, gamma=2.0, alpha=alpha.tolist())
    expected = ref.reduce(ref.focal(logits, labels, 2.0, alpha), labels)
    assert loss_value(focal, logits, labels) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("alpha", "weights"),
    [
        ("inverse_freq", lambda counts: ref.inverse_freq_weights(counts)),
        ("effective_number", lambda counts: ref.effective_number_weights(counts, 0.99)),
    ],
)
def test_alpha_from_class_counts(batch, class_counts, alpha, weights):
    logits, labels = batch
    focal = build_criterion(
        "focal", NUM_LABELS, gamma=1.5, alpha=alpha, beta=0.99, class_counts=class_counts
    )
    expected = ref.reduce(ref.focal(logits, labels, 1.5, weights(class_counts.numpy())), labels)
    assert loss_value(focal, logits, labels) == pytest.approx(expected, rel=1e-10)


def test_gamma_zero_is_exactly_cross_entropy(batch):
    logits, labels = map(torch.from_numpy, batch)
    focal = build_criterion("focal", NUM_LABELS, gamma=0.0)
    ce = build_criterion("ce", NUM_LABELS)
    assert torch.equal(focal(logits.float(), labels), ce(logits.float(), labels))


def test_focusing_down_weights_easy_examples():
    # The same correct prediction costs less under focal than CE, and more so for larger gamma.
    logits = torch.tensor([[4.0] + [0.0] * (NUM_LABELS - 1)])
    labels = torch.tensor([0])
    losses = [
        float(build_criterion("focal", NUM_LABELS, gamma=g)(logits, labels)) for g in (0, 1, 2)
    ]
    assert losses[0] > losses[1] > losses[2] > 0


@pytest.mark.parametrize("gamma", [0.25, 0.5])
def test_finite_gradients_when_target_probability_is_one(gamma):
    # Margin 60: p_y rounds to 1 in float32, where the naive (1 - p)**gamma has a NaN gradient.
    logits = torch.zeros(4, NUM_LABELS)
    labels = torch.tensor([0, 5, 11, 29])
    logits[torch.arange(4), labels] = 60.0
    for margin_logits in (logits, logits * 10):  # 600: log p_y itself underflows to 0
        margin_logits = margin_logits.clone().requires_grad_()
        loss = build_criterion("focal", NUM_LABELS, gamma=gamma)(margin_logits, labels)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(margin_logits.grad).all()


def test_naive_focal_would_have_nan_gradients():
    # Guards the test above: it checks a case where the textbook formula really breaks.
    logits = torch.zeros(1, NUM_LABELS)
    logits[0, 0] = 60.0
    logits.requires_grad_()
    log_p = torch.log_softmax(logits, -1)[0, 0]
    (-((1 - log_p.exp()) ** 0.25) * log_p).backward()
    assert not torch.isfinite(logits.grad).all()
