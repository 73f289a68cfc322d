"""The contract every criterion shares (losses/_base.py), checked for each registered criterion."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.modeling_outputs import SequenceClassifierOutput

from losses import CRITERIA, build_criterion
from tests.losses.helpers import KLUE_TRAIN_COUNTS, NUM_LABELS

# Non-default settings, so a criterion that silently ignored its parameter would be caught below.
SETTINGS = {
    "ce": {"weight": "inverse_freq"},
    "focal": {"gamma": 0.5, "alpha": "effective_number"},
    "label_smoothing": {"smoothing": 0.2, "convention": "seed"},
    "class_balanced": {"beta": 0.99, "base": "focal", "gamma": 1.0},
    "poly1": {"epsilon": 2.0},
    "logit_adjusted": {"tau": 1.0},
}


def make(name: str, num_labels: int = NUM_LABELS):
    counts = KLUE_TRAIN_COUNTS if num_labels == NUM_LABELS else [7] * num_labels
    return build_criterion(name, num_labels, class_counts=counts, **SETTINGS[name])


def test_settings_cover_the_registry():
    assert set(SETTINGS) == set(CRITERIA)


@pytest.fixture(params=sorted(CRITERIA))
def criterion(request):
    return make(request.param)


@pytest.fixture
def tensors(batch):
    return tuple(torch.from_numpy(a) for a in batch)


def test_num_items_in_batch_divides_the_sum(criterion, tensors):
    logits, labels = tensors
    total = criterion(logits, labels, num_items_in_batch=1)
    assert float(criterion(logits, labels, num_items_in_batch=torch.tensor(64))) == pytest.approx(
        float(total) / 64, rel=1e-12
    )
    num_valid = int((labels != -100).sum())
    assert float(criterion(logits, labels)) == pytest.approx(float(total) / num_valid, rel=1e-12)


def test_gradient_accumulation_halves_add_up_to_the_full_batch(criterion, tensors):
    logits, labels = tensors
    num_items = int((labels != -100).sum())
    halves = sum(
        criterion(logits[part], labels[part], num_items_in_batch=num_items)
        for part in (slice(0, 10), slice(10, None))
    )
    assert float(halves) == pytest.approx(float(criterion(logits, labels)), rel=1e-12)


def test_ignored_rows_have_no_effect_and_no_gradient(criterion, tensors):
    logits, labels = tensors
    ignored = labels == -100
    changed = logits.clone()
    changed[ignored] = 1e4
    assert float(criterion(changed, labels)) == pytest.approx(
        float(criterion(logits[~ignored], labels[~ignored])), rel=1e-12
    )
    logits = logits.clone().requires_grad_()
    criterion(logits, labels).backward()
    assert torch.count_nonzero(logits.grad[ignored]) == 0
    assert torch.count_nonzero(logits.grad[~ignored]) > 0


def test_an_all_ignored_batch_gives_zero_and_a_usable_graph(criterion):
    logits = torch.randn(3, NUM_LABELS, requires_grad=True)
    loss = criterion(logits, torch.full((3,), -100))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_hf_model_outputs_are_read_for_their_logits(criterion, tensors):
    logits, labels = tensors
    expected = criterion(logits, labels)
    assert torch.equal(criterion(SequenceClassifierOutput(logits=logits), labels), expected)
    assert torch.equal(criterion({"logits": logits}, labels), expected)


def test_gradcheck_in_float64(criterion, tensors):
    logits, labels = tensors
    logits = logits[:6].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: criterion(x, labels[:6]), (logits,))


def test_bf16_logits_are_computed_in_float32(criterion, tensors):
    logits, labels = tensors
    full = float(criterion(logits.float(), labels))
    half = criterion(logits.bfloat16(), labels)
    assert half.dtype == torch.float32
    assert float(half) == pytest.approx(full, rel=1e-3)


def test_labels_out_of_range_are_rejected(criterion):
    with pytest.raises(
        ValueError, match=r"labels must be in \[0, 29\] or -100 \(ignored\), but got 30"
    ):
        criterion(torch.zeros(2, NUM_LABELS), torch.tensor([1, 30]))
    with pytest.raises(ValueError, match="but got -1"):
        criterion(torch.zeros(2, NUM_LABELS), torch.tensor([-1, 0]))


# -------------------------------------------------- properties: every neutral setting is exactly CE

NEUTRAL = [
    ("focal", {"gamma": 0.0}),
    ("label_smoothing", {"smoothing": 0.0}),
    ("label_smoothing", {"smoothing": 0.0, "convention": "seed"}),
    ("class_balanced", {"beta": 0.0}),
    ("class_balanced", {"beta": 0.0, "base": "focal", "gamma": 0.0}),
    ("poly1", {"epsilon": 0.0}),
    ("logit_adjusted", {"tau": 0.0}),
]


@settings(max_examples=40, deadline=None)
@given(
    num_classes=st.integers(2, 40),
    batch_size=st.integers(1, 32),
    scale=st.floats(0.01, 30.0),
    seed=st.integers(0, 2**31 - 1),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_neutral_settings_equal_cross_entropy(num_classes, batch_size, scale, seed, dtype):
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(0, scale, size=(batch_size, num_classes))).to(dtype)
    labels = torch.from_numpy(rng.integers(-1, num_classes, size=batch_size))
    labels[labels == -1] = -100
    counts = rng.integers(1, 10_000, size=num_classes).tolist()
    ce = build_criterion("ce", num_classes)(logits, labels)
    for name, params in NEUTRAL:
        value = build_criterion(name, num_classes, class_counts=counts, **params)(logits, labels)
        torch.testing.assert_close(value, ce, rtol=0, atol=0, msg=f"{name} {params}")
