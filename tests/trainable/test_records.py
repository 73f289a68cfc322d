"""Loading and validating KLUE RE records: real files, and one malformed record of each kind."""

import copy
import json
from collections import defaultdict

import pandas as pd
import pytest

from trainable.records import DataError, load_label_names, load_records


def test_real_train_duplicates_are_dropped_and_conflicts_reported(klue_dir, raw_train, label_names):
    records, report = load_records(klue_dir / "klue-re-v1.1_train.json", label_names)
    groups = defaultdict(list)  # independent count over the raw JSON
    for raw in raw_train:
        key = json.dumps([raw["sentence"], raw["subject_entity"], raw["object_entity"]])
        groups[key].append(raw["label"])
    exact_extras = sum(len(labels) - len(set(labels)) for labels in groups.values())
    conflicting = sum(1 for labels in groups.values() if len(set(labels)) > 1)
    assert report.duplicates_dropped == exact_extras > 0
    assert len(report.conflicting_groups) == conflicting > 0
    assert len(records) == len(raw_train) - exact_extras == report.kept
    assert "exact duplicates dropped" in report.summary()


def test_label_order_is_klue_relation_list(klue_dir, label_names):
    raw = json.loads((klue_dir / "relation_list.json").read_text(encoding="utf-8"))
    assert label_names == raw["relations"]
    assert label_names[0] == "no_relation"


def test_dedupe_can_be_turned_off(klue_dir, raw_train, label_names):
    records, report = load_records(klue_dir / "klue-re-v1.1_train.json", label_names, dedupe=False)
    assert len(records) == len(raw_train)
    assert report.duplicates_dropped == 0


def _broken(raw_train, change):
    records = copy.deepcopy(raw_train[:20])
    change(records[7])
    return records


MALFORMED = [
    ("missing field", lambda r: r.pop("label"), "missing field(s) label"),
    ("span mismatch", lambda r: r["subject_entity"].update(start_idx=r["subject_entity"]["start_idx"] + 1),
     "subject_entity: span mismatch"),
    ("unknown label", lambda r: r.update(label="per:favourite_food"),
     "unknown label 'per:favourite_food'"),
    ("entity not a dict", lambda r: r.update(object_entity="조지 해리슨"), "object_entity is not a dict"),
    ("entity key missing", lambda r: r["object_entity"].pop("type"), "object_entity lacks type"),
    ("index not an integer", lambda r: r["object_entity"].update(end_idx="x"),
     "object_entity.end_idx must be an integer"),
    ("span outside sentence", lambda r: r["object_entity"].update(end_idx=10_000),
     "outside the sentence"),
    ("overlapping spans", lambda r: r.update(object_entity=dict(r["subject_entity"], type="PER")),
     "overlap"),
    ("empty sentence", lambda r: r.update(sentence=""), "sentence must be a non-empty string"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "change", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_record_names_file_record_and_problem(
    kind, change, message, raw_train, label_names, tmp_path
):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(_broken(raw_train, change), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_records(path, label_names)
    text = str(error.value)
    assert str(path) in text and "klue-re-v1_train_00007 (#7)" in text and message in text


def test_skip_mode_counts_and_reports_skipped_records(raw_train, label_names, tmp_path):
    path = tmp_path / "train.json"
    path.write_text(
        json.dumps(_broken(raw_train, lambda r: r.update(label="bogus")), ensure_ascii=False),
        encoding="utf-8",
    )
    records, report = load_records(path, label_names, on_bad_record="skip")
    assert len(records) == 19 and len(report.skipped) == 1
    assert (
        "1 malformed skipped (first: klue-re-v1_train_00007 (#7): unknown label" in report.summary()
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[{"guid": "x", "sentence": "ab', "invalid JSON at line 1"),
        ('[{"guid": "한국"}]'.encode("utf-16"), "not UTF-8 text"),
        (b"[]", r"no usable records \(empty split\)"),
        (b'{"guid": "x"}', "expected a JSON list of records, got dict"),
    ],
    ids=["truncated", "wrong encoding", "empty", "not a list"],
)
def test_unreadable_files(content, message, label_names, tmp_path):
    path = tmp_path / "train.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_records(path, label_names)


def test_missing_file_and_bad_relation_list(label_names, tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_records(tmp_path / "nope.json", label_names)
    relations = tmp_path / "relation_list.json"
    relations.write_text(json.dumps({"relations": ["org:a", "no_relation"]}))
    with pytest.raises(DataError, match="label 0 must be 'no_relation'"):
        load_label_names(relations)


def _as_boostcamp_csv(raw_records, path):
    rows = [
        {
            "id": r["guid"],
            "sentence": r["sentence"],
            "subject_entity": str(r["subject_entity"]),  # Python dict literals, as boostcamp ships
            "object_entity": str(r["object_entity"]),
            "label": r["label"],
            "source": r["source"],
        }
        for r in raw_records
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def test_csv_and_json_loaders_agree_on_the_same_records(raw_train, label_names, tmp_path):
    sample = raw_train[:300]
    json_path, csv_path = tmp_path / "train.json", tmp_path / "train.csv"
    json_path.write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
    _as_boostcamp_csv(sample, csv_path)
    from_json, _ = load_records(json_path, label_names)
    from_csv, _ = load_records(csv_path, label_names)
    assert from_csv == from_json


def test_csv_entity_column_that_is_not_a_dict(raw_train, label_names, tmp_path):
    sample = copy.deepcopy(raw_train[:5])
    path = tmp_path / "train.csv"
    _as_boostcamp_csv(sample, path)
    frame = pd.read_csv(path)
    frame.loc[2, "subject_entity"] = "__import__('os').system('true')"  # never evaluated
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"#2\): subject_entity is not a dict"):
        load_records(path, label_names)
