"""Preparing data once: stratified splits, tokenized features, entity positions, the disk cache."""

from collections import Counter

import numpy as np
import pytest

from trainable.data import prepare_data, stratified_take
from trainable.settings import TrialSettings


def test_stratified_take_is_exact_proportional_and_seeded():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 19 + ["d"]
    taken = stratified_take(labels, 10, seed=1)
    assert len(taken) == len(set(taken)) == 10
    counts = Counter(labels[i] for i in taken)
    assert counts["a"] == 5 and counts["b"] == 3 and counts["c"] in (1, 2)
    assert np.array_equal(taken, stratified_take(labels, 10, seed=1))
    assert not np.array_equal(taken, stratified_take(labels, 10, seed=2))


def _settings(folder, tmp_path, **data):
    return TrialSettings.model_validate(
        {
            "model": {"name_or_path": "scratch", "scratch": {"vocab_size": 2000}},
            "data": {"dir": str(folder), "cache_dir": str(tmp_path / "cache"), **data},
        }
    )


@pytest.fixture
def small(raw_train, slice_dir, tmp_path):
    folder = slice_dir(raw_train[:800], raw_train[800:1000])
    return folder, tmp_path


def test_holdout_is_disjoint_stratified_and_the_same_for_every_trial(small):
    folder, tmp_path = small
    prepared = prepare_data(_settings(folder, tmp_path), use_cache=False)
    train, selection = prepared.splits["train"], prepared.splits["selection"]
    assert not set(train.guids) & set(selection.guids)
    assert len(selection) == round(0.1 * (len(train) + len(selection)))
    again = prepare_data(_settings(folder, tmp_path), use_cache=False)
    assert again.splits["selection"].guids == selection.guids
    other_seed = _settings(folder, tmp_path).model_copy(deep=True)
    other_seed.experiment.seed = 7
    assert prepare_data(other_seed, use_cache=False).splits["selection"].guids != selection.guids
    assert sum(prepared.class_counts) == len(train)


def test_selection_dev_selects_on_the_test_split(small):
    folder, tmp_path = small
    prepared = prepare_data(_settings(folder, tmp_path, selection="dev"), use_cache=False)
    assert prepared.splits["selection"].guids == prepared.splits["test"].guids


def test_entity_positions_point_at_the_start_markers(small):
    folder, tmp_path = small
    prepared = prepare_data(_settings(folder, tmp_path), use_cache=False)
    tokens = prepared.tokenizer.convert_ids_to_tokens
    for split in prepared.splits.values():
        for i in range(len(split)):
            ids = split.input_ids[i].tolist()
            assert tokens(ids[split.subject_pos[i]]) == "@"
            assert tokens(ids[split.object_pos[i]]) == "&"


def test_truncation_is_counted_and_positions_fall_back_to_cls(small):
    folder, tmp_path = small
    prepared = prepare_data(_settings(folder, tmp_path, max_length=16), use_cache=False)
    assert any("lost an entity marker to truncation" in note for note in prepared.notes)
    assert max(max(split.lengths) for split in prepared.splits.values()) <= 16


def test_disk_cache_returns_the_same_data_and_keys_on_settings(small):
    folder, tmp_path = small
    first = prepare_data(_settings(folder, tmp_path))
    cached = prepare_data(_settings(folder, tmp_path))
    assert cached.fingerprint == first.fingerprint
    assert cached.splits["train"].guids == first.splits["train"].guids
    assert len(list((tmp_path / "cache").iterdir())) == 1
    other = prepare_data(_settings(folder, tmp_path, marker="entity_punct"))
    assert other.fingerprint != first.fingerprint


def test_subsamples_are_stratified_slices(small):
    folder, tmp_path = small
    prepared = prepare_data(
        _settings(folder, tmp_path, train_subsample=300, test_subsample=100), use_cache=False
    )
    splits = prepared.splits
    assert len(splits["train"]) + len(splits["selection"]) == 300
    assert len(splits["test"]) == 100
