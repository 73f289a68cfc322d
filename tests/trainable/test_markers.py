"""Entity markers on real KLUE records: both entity orders, adjacent entities, every scheme."""

import pytest

from trainable.markers import mark_entities


def _find(records, condition):
    return next(r for r in records if condition(r))


@pytest.fixture(scope="module")
def cases(train_records):
    return {
        "subject first": _find(train_records, lambda r: r.subject.end < r.object.start),
        "object first": _find(train_records, lambda r: r.object.end < r.subject.start),
        "adjacent": _find(
            train_records,
            lambda r: r.object.start - r.subject.end == 1 or r.subject.start - r.object.end == 1,
        ),
    }


@pytest.mark.parametrize("case", ["subject first", "object first", "adjacent"])
def test_typed_punct_wraps_each_entity_and_points_at_its_opening_marker(cases, case):
    record = cases[case]
    marked = mark_entities(record, "typed_punct")
    subject = f"@ * {record.subject.type} * {record.subject.word} @"
    obj = f"& ^ {record.object.type} ^ {record.object.word} &"
    assert marked.text[marked.subject_char :].startswith(subject)
    assert marked.text[marked.object_char :].startswith(obj)
    # Taking the markers out again gives back the sentence, character for character.
    restored = marked.text.replace(subject, record.subject.word).replace(obj, record.object.word)
    assert restored == record.sentence


@pytest.mark.parametrize("case", ["subject first", "object first", "adjacent"])
def test_entity_punct_has_no_types(cases, case):
    record = cases[case]
    marked = mark_entities(record, "entity_punct")
    assert marked.text[marked.subject_char :].startswith(f"@ {record.subject.word} @")
    assert marked.text[marked.object_char :].startswith(f"& {record.object.word} &")
    for type_symbol in "*^":
        assert marked.text.count(type_symbol) == record.sentence.count(type_symbol)


@pytest.mark.parametrize("case", ["subject first", "object first", "adjacent"])
def test_none_keeps_the_sentence_and_points_at_the_entities(cases, case):
    record = cases[case]
    marked = mark_entities(record, "none")
    assert marked.text == record.sentence
    assert (marked.subject_char, marked.object_char) == (record.subject.start, record.object.start)


def test_unknown_scheme_is_rejected(cases):
    with pytest.raises(ValueError, match="marker must be one of typed_punct, entity_punct, none"):
        mark_entities(cases["adjacent"], "brackets")
