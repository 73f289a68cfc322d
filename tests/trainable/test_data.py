"""Preparing data once: stratified splits, tokenized features, entity positions, the disk cache."""

import hashlib
from collections import Counter

import numpy as np
import pytest

from trainable.common.settings import TrialSettings
from trainable.data import prepare_data
from trainable.records import DataError, load_records
from trainable.splits import shared_sentences_note, stratified_group_take, stratified_take


def test_stratified_take_is_exact_proportional_and_seeded():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 19 + ["d"]
    taken = stratified_take(labels, 10, seed=1)
    assert len(taken) == len(set(taken)) == 10
    counts = Counter(labels[i] for i in taken)
    assert counts["a"] == 5 and counts["b"] == 3 and counts["c"] in (1, 2)
    assert np.array_equal(taken, stratified_take(labels, 10, seed=1))
    assert not np.array_equal(taken, stratified_take(labels, 10, seed=2))


def test_stratified_group_take_keeps_groups_whole_and_is_seeded():
    labels = ["a"] * 40 + ["b"] * 40 + ["c"] * 4
    groups = [f"g{i // 2}" for i in range(80)] + ["r1", "r2", "r3", "r4"]
    taken = stratified_group_take(labels, groups, 21, seed=3)
    assert np.array_equal(taken, np.sort(taken)) and len(taken) == 21
    chosen = {groups[i] for i in taken}
    assert {i for i, group in enumerate(groups) if group in chosen} == set(taken.tolist())
    assert Counter(labels[i] for i in taken)["c"] == 1  # the rare label gets its share
    assert np.array_equal(taken, stratified_group_take(labels, groups, 21, seed=3))
    assert not np.array_equal(taken, stratified_group_take(labels, groups, 21, seed=4))


def test_stratified_group_take_never_exceeds_the_count():
    assert stratified_group_take(["a", "b"], ["s", "s"], 1, seed=0).size == 0
    assert stratified_group_take(["a", "b", "a"], ["s", "s", "t"], 9, seed=0).tolist() == [0, 1, 2]
    assert stratified_group_take([], [], 3, seed=0).size == 0


@pytest.fixture(scope="module")
def full_train(klue_dir, label_names):
    """The whole official KLUE RE train split, loaded and validated but not tokenized."""
    return load_records(klue_dir / "klue-re-v1.1_train.json", label_names)[0]


def _sentences_on_both_sides(records, taken):
    held = set(taken.tolist())
    inside = {r.sentence for i, r in enumerate(records) if i in held}
    return inside & {r.sentence for i, r in enumerate(records) if i not in held}


def _label_share_gaps(records, taken):
    """|share in the selection − share in train| per label."""
    everywhere = Counter(r.label for r in records)
    selected = Counter(records[i].label for i in taken)
    return {
        label: abs(selected[label] / len(taken) - total / len(records))
        for label, total in everywhere.items()
    }


def test_group_holdout_of_full_klue_train_shares_no_sentence_and_keeps_label_shares(full_train):
    labels, sentences = [r.label for r in full_train], [r.sentence for r in full_train]
    count = round(0.1 * len(full_train))
    taken = stratified_group_take(labels, sentences, count, seed=42)
    assert not _sentences_on_both_sides(full_train, taken)
    assert abs(len(taken) - count) <= 0.01 * len(full_train) + 3  # 3: KLUE's largest sentence
    gaps = _label_share_gaps(full_train, taken)
    assert sum(gaps.values()) / 2 < 0.02  # total variation distance
    selected = Counter(labels[i] for i in taken)
    assert all(selected[label] for label, total in Counter(labels).items() if total >= 50)
    assert np.array_equal(taken, stratified_group_take(labels, sentences, count, seed=42))
    assert not np.array_equal(taken, stratified_group_take(labels, sentences, count, seed=7))


def test_by_example_holdout_of_full_klue_train_leaks_sentences(full_train):
    """The check above can fail: drawing by example splits hundreds of sentences."""
    count = round(0.1 * len(full_train))
    taken = stratified_take([r.label for r in full_train], count, seed=42)
    assert len(_sentences_on_both_sides(full_train, taken)) > 0.1 * count


def test_klue_dev_shares_132_sentences_with_train(full_train, klue_dir, label_names):
    dev = load_records(klue_dir / "klue-re-v1.1_dev.json", label_names, dedupe=False)[0]
    assert shared_sentences_note(dev, full_train).startswith("dev shares 132 sentences")


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


def test_holdout_is_disjoint_stratified_and_the_same_for_every_trial(small, raw_train):
    folder, tmp_path = small
    prepared = prepare_data(_settings(folder, tmp_path), use_cache=False)
    train, selection = prepared.splits["train"], prepared.splits["selection"]
    assert not set(train.guids) & set(selection.guids)
    sentence = {record["guid"]: record["sentence"] for record in raw_train[:800]}
    assert not {sentence[g] for g in train.guids} & {sentence[g] for g in selection.guids}
    total = len(train) + len(selection)
    assert abs(len(selection) - 0.1 * total) <= 0.01 * total + 3
    again = prepare_data(_settings(folder, tmp_path), use_cache=False)
    assert again.splits["selection"].guids == selection.guids
    other_seed = _settings(folder, tmp_path).model_copy(deep=True)
    other_seed.experiment.seed = 7
    assert prepare_data(other_seed, use_cache=False).splits["selection"].guids != selection.guids
    assert sum(prepared.class_counts) == len(train)


def test_source_files_and_notes_identify_the_data(raw_train, slice_dir, tmp_path):
    train, dev = raw_train[:800], raw_train[760:900]  # dev reuses some train sentences
    folder = slice_dir(train, dev)
    prepared = prepare_data(_settings(folder, tmp_path), use_cache=False)
    for role, name in (
        ("train", "klue-re-v1.1_train.json"),
        ("dev", "klue-re-v1.1_dev.json"),
        ("relations", "relation_list.json"),
    ):
        path = folder / name
        assert prepared.source_files[role] == (
            str(path.resolve()),
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
    shared = {r["sentence"] for r in dev} & {r["sentence"] for r in train}
    assert shared
    assert f"dev shares {len(shared)} sentences" in "\n".join(prepared.notes)
    selection = prepared.splits["selection"]
    assert any(f"{len(selection)} examples" in note for note in prepared.notes)


def test_a_holdout_needing_part_of_a_sentence_is_an_error(raw_train, slice_dir, tmp_path):
    per_sentence = Counter(r["sentence"] for r in raw_train[:2000])
    sentences = [s for s, n in per_sentence.items() if n >= 2][:6]
    paired = [r for r in raw_train[:2000] if r["sentence"] in sentences]
    folder = slice_dir(paired)  # holdout size 1, every sentence holds two or more examples
    with pytest.raises(DataError, match="no holdout"):
        prepare_data(_settings(folder, tmp_path), use_cache=False)


def test_selection_dev_selects_on_klue_dev(small):
    folder, tmp_path = small
    prepared = prepare_data(_settings(folder, tmp_path, selection="dev"), use_cache=False)
    assert prepared.splits["selection"].guids == prepared.splits["dev"].guids


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
    assert cached.source_files == first.source_files
    assert len(list((tmp_path / "cache").iterdir())) == 1
    other = prepare_data(_settings(folder, tmp_path, marker="entity_punct"))
    assert other.fingerprint != first.fingerprint


def test_subsamples_are_stratified_slices(small):
    folder, tmp_path = small
    prepared = prepare_data(
        _settings(folder, tmp_path, train_subsample=300, dev_subsample=100), use_cache=False
    )
    splits = prepared.splits
    assert len(splits["train"]) + len(splits["selection"]) == 300
    assert len(splits["dev"]) == 100
