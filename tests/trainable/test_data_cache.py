"""The prepared-data disk cache: the same data comes back, and nothing planted there runs.

The cache folder may be shared and its key is computable, so these tests plant what an attacker
would (a pickle, a pickled array, tokenizer remote code) under the right key, on real KLUE files.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertTokenizer, DataCollatorWithPadding

from tests.helpers import REPO, TRAIN, write_klue_slice
from trainable.common.settings import TrialSettings
from trainable.data import PreparedData, prepare_data
from trainable.data_cache import ARRAYS, META, TOKENIZER
from trainable.markers import mark_entities
from trainable.records import load_label_names, load_records

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class _Plant:
    """Unpickling this creates ``path``: the proof that a cache file was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _settings(klue: Path, cache: Path, model: dict | None = None) -> TrialSettings:
    model = model or {"name_or_path": "scratch", "scratch": {"vocab_size": 2000}}
    data = {"dir": str(klue), "cache_dir": str(cache), "max_length": 64}
    return TrialSettings.model_validate({"model": model, "data": data})


@pytest.fixture(scope="module")
def klue(tmp_path_factory, raw_train, klue_dir) -> Path:
    folder = tmp_path_factory.mktemp("klue_slice")
    return write_klue_slice(folder, klue_dir, raw_train[:600], raw_train[600:760])


@pytest.fixture(scope="module")
def local_tokenizer(tmp_path_factory, raw_train) -> dict:
    """A character vocabulary saved like a hub checkpoint, lacking '&' and '^': the object
    markers are added tokens, which must come back from the cache."""
    characters = sorted({c for r in raw_train[:760] for c in r["sentence"] if not c.isspace()})
    vocab = list(dict.fromkeys(SPECIAL + [c for c in characters if c not in "&^"] + ["@", "*"]))
    folder = tmp_path_factory.mktemp("local_tokenizer")
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=False)
    tokenizer.save_pretrained(folder)
    return {"name_or_path": str(folder)}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, klue) -> tuple[PreparedData, Path]:
    """Freshly prepared data and the cache folder written for it (copied, then damaged)."""
    cache = tmp_path_factory.mktemp("pristine")
    fresh = prepare_data(_settings(klue, cache), use_cache=False)
    prepare_data(_settings(klue, cache))
    return fresh, cache / fresh.fingerprint


def _prepare_logged(settings: TrialSettings, caplog) -> tuple[PreparedData, str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="trainable"):
        prepared = prepare_data(settings)
    return prepared, caplog.text


def _assert_same_data(fresh: PreparedData, other: PreparedData, klue: Path) -> None:
    assert other.label_names == fresh.label_names
    assert other.class_counts == fresh.class_counts
    assert other.notes == fresh.notes
    assert other.fingerprint == fresh.fingerprint
    assert list(other.splits) == list(fresh.splits)
    for name, split in fresh.splits.items():
        again = other.splits[name]
        assert again.guids == split.guids
        assert len(again.input_ids) == len(split.input_ids)
        for ids, ids_again in zip(split.input_ids, again.input_ids, strict=True):
            assert ids_again.dtype == ids.dtype and np.array_equal(ids_again, ids)
        for key in ("subject_pos", "object_pos", "labels"):
            array, array_again = getattr(split, key), getattr(again, key)
            assert array_again.dtype == array.dtype and np.array_equal(array_again, array)
        _assert_same_batches(fresh.tokenizer, split, other.tokenizer, again)
    _assert_same_tokenizer(fresh.tokenizer, other.tokenizer, klue)


def _assert_same_batches(tokenizer, split, tokenizer_again, split_again) -> None:
    """What a trial's Trainer feeds the model, collated as hf_trainer does: bit-identical."""
    rows = range(0, len(split), max(1, len(split) // 24))
    batch = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)([split[i] for i in rows])
    again = DataCollatorWithPadding(tokenizer_again, pad_to_multiple_of=8)(
        [split_again[i] for i in rows]
    )
    assert batch.keys() == again.keys()
    for key, tensor in batch.items():
        assert again[key].dtype == tensor.dtype and torch.equal(again[key], tensor)


def _assert_same_tokenizer(tokenizer, again, klue: Path) -> None:
    assert type(again) is type(tokenizer)
    assert len(again) == len(tokenizer)
    assert again.model_max_length == tokenizer.model_max_length
    assert (again.pad_token, again.pad_token_id) == (tokenizer.pad_token, tokenizer.pad_token_id)
    assert again.added_tokens_decoder == tokenizer.added_tokens_decoder
    assert again.special_tokens_map == tokenizer.special_tokens_map
    assert again.name_or_path == tokenizer.name_or_path
    processor = json.loads(tokenizer.backend_tokenizer.to_str())["post_processor"]
    assert json.loads(again.backend_tokenizer.to_str())["post_processor"] == processor
    records = load_records(klue / TRAIN, load_label_names(klue / "relation_list.json"))[0]
    texts = [mark_entities(r, "typed_punct").text for r in records[:40]]
    encoded, encoded_again = (t(texts, truncation=True, max_length=64) for t in (tokenizer, again))
    assert encoded_again["input_ids"] == encoded["input_ids"]
    offsets = [e.offsets for e in encoded.encodings]
    assert [e.offsets for e in encoded_again.encodings] == offsets


@pytest.mark.parametrize("route", ["scratch", "local_pretrained"])
def test_a_cached_copy_is_the_same_data_down_to_the_batches(route, klue, local_tokenizer, tmp_path, caplog):  # fmt: skip
    settings = _settings(klue, tmp_path / "cache", local_tokenizer if route != "scratch" else None)
    fresh = prepare_data(settings, use_cache=False)
    written, log = _prepare_logged(settings, caplog)
    assert "cache hit" not in log
    cached, log = _prepare_logged(settings, caplog)
    assert "cache hit" in log and "unusable" not in log
    assert cached.source_files == written.source_files == fresh.source_files
    _assert_same_data(fresh, cached, klue)
    if route != "scratch":  # the markers the vocabulary lacked came back as added tokens
        assert cached.tokenizer.tokenize("& ^") == ["&", "^"]
        assert {"&", "^"} <= {t.content for t in cached.tokenizer.added_tokens_decoder.values()}


def _plant_pickle(folder: Path, plant: _Plant) -> None:
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / "prepared.pkl").write_bytes(pickle.dumps(plant))


def _plant_pickled_array(folder: Path, plant: _Plant) -> None:
    with np.load(folder / ARRAYS) as arrays:
        kept = {key: arrays[key] for key in arrays.files}
    kept["train.labels"] = np.array([plant], dtype=object)
    np.savez(folder / ARRAYS, **kept)


def _plant_tokenizer_code(folder: Path, plant: _Plant) -> None:
    tokenizer = folder / TOKENIZER
    (tokenizer / "planted.py").write_text(
        f"open({str(plant.path)!r}, 'w').close()\n"
        "from transformers import PreTrainedTokenizerFast as PlantedTokenizer\n"
    )
    config = json.loads((tokenizer / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": [None, "planted.PlantedTokenizer"]}
    (tokenizer / "tokenizer_config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("plant", [_plant_pickle, _plant_pickled_array, _plant_tokenizer_code])
def test_nothing_planted_in_the_cache_runs(plant, pristine, klue, tmp_path, caplog):
    fresh, written = pristine
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Plant(control)))  # the payload is live: unpickled, it runs
    assert control.exists()
    ran = tmp_path / "ran"
    folder = tmp_path / "cache" / fresh.fingerprint
    shutil.copytree(written, folder)
    plant(folder, _Plant(ran))
    prepared, _ = _prepare_logged(_settings(klue, tmp_path / "cache"), caplog)
    assert not ran.exists()
    assert prepared.splits["train"].guids == fresh.splits["train"].guids
    assert not (folder / "prepared.pkl").exists()  # an unusable folder is replaced once


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: _truncate(folder / ARRAYS),
        lambda folder: _truncate(folder / META),
        lambda folder: _truncate(folder / TOKENIZER / "tokenizer.json"),
        lambda folder: shutil.rmtree(folder / TOKENIZER),
        lambda folder: (folder / ARRAYS).unlink(),
        lambda folder: _rewrite_array(folder, "dev.offsets", lambda offsets: offsets[:-1]),
        lambda folder: _rewrite_array(folder, "train.labels", lambda labels: labels + 999),
        lambda folder: _rewrite_meta(folder, "fingerprint", "0" * 20),
    ],
    ids=[
        "arrays-truncated", "meta-truncated", "tokenizer-truncated", "tokenizer-missing",
        "arrays-missing", "offsets-short", "labels-out-of-range", "meta-other-key",
    ],
)  # fmt: skip
def test_a_damaged_cache_is_rebuilt_with_a_log_line(damage, pristine, klue, tmp_path, caplog):
    fresh, written = pristine
    folder = tmp_path / "cache" / fresh.fingerprint
    shutil.copytree(written, folder)
    damage(folder)
    settings = _settings(klue, tmp_path / "cache")
    rebuilt, log = _prepare_logged(settings, caplog)
    assert f"prepared data cache {folder} unusable, rebuilding" in log
    _assert_same_data(fresh, rebuilt, klue)
    healed, log = _prepare_logged(settings, caplog)
    assert "cache hit" in log and "unusable" not in log
    assert healed.splits["dev"].guids == fresh.splits["dev"].guids


def _rewrite_array(folder: Path, key: str, change) -> None:
    with np.load(folder / ARRAYS) as arrays:
        kept = {name: arrays[name] for name in arrays.files}
    kept[key] = change(kept[key])
    np.savez(folder / ARRAYS, **kept)


def _rewrite_meta(folder: Path, key: str, value) -> None:
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    meta[key] = value
    (folder / META).write_text(json.dumps(meta), encoding="utf-8")


# ---------------------------------------------------------------- no code-running loaders
UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "shelve", "joblib"}
# Reads Ray's own experiment state (search_gen_state-*.json, a cloudpickle) to raise its trial
# count on --resume; Tuner.restore unpickles that same folder anyway.
ALLOWED = {("search/ray_tune.py", "from ray import cloudpickle")}


def _unsafe_loads(source: str) -> list[str]:
    """Imports of pickle-like modules, ``torch.load`` without ``weights_only=True`` and
    ``np.load(..., allow_pickle=True)`` in ``source``, each as a short description."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _unsafe(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [a.name for a in node.names if _unsafe(f"{module}.{a.name}")]
            found += [f"from {module} import {n}" for n in names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found += _unsafe_call(node)
    return found


def _unsafe(dotted: str) -> bool:
    return bool(UNSAFE_MODULES & set(dotted.split(".")))


def _unsafe_call(call: ast.Call) -> list[str]:
    name = call.func.attr
    flags = {k.arg: k.value for k in call.keywords}
    trusted = isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value
    if name == "load" and ast.unparse(call.func.value) == "torch" and trusted is not True:
        return ["torch.load without weights_only=True"]
    pickles = flags.get("allow_pickle")
    if name == "load" and isinstance(pickles, ast.Constant) and pickles.value is not False:
        return ["np.load(allow_pickle=True)"]
    return ["read_pickle"] if name == "read_pickle" else []


def test_the_scan_finds_what_it_looks_for():
    source = (
        "import pickle\nimport dill as d\nfrom ray import cloudpickle\nfrom joblib import load\n"
        "torch.load(f)\ntorch.load(f, weights_only=False)\ntorch.load(f, weights_only=True)\n"
        "np.load(f, allow_pickle=True)\nnp.load(f, allow_pickle=False)\npd.read_pickle(f)\n"
    )
    assert _unsafe_loads(source) == [
        "import pickle", "import dill", "from ray import cloudpickle", "from joblib import load",
        "torch.load without weights_only=True", "torch.load without weights_only=True",
        "np.load(allow_pickle=True)", "read_pickle",
    ]  # fmt: skip


def test_no_project_code_loads_anything_that_can_run_code():
    found = {
        (str(path.relative_to(REPO)), what)
        for package in ("trainable", "search", "losses")
        for path in sorted((REPO / package).rglob("*.py"))
        for what in _unsafe_loads(path.read_text(encoding="utf-8"))
    }
    assert found == ALLOWED


def test_a_cache_folder_of_another_user_is_not_used(pristine, klue, tmp_path, monkeypatch, caplog):
    """Another local user who can write the cache root plants a folder under the right key:
    it is valid in every way but its owner, and it is neither read nor replaced."""
    fresh, written = pristine
    folder = tmp_path / "cache" / fresh.fingerprint
    shutil.copytree(written, folder)
    _rewrite_meta(folder, "notes", ["PLANTED by another user"])
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(folder).st_uid + 4242)
    prepared, log = _prepare_logged(_settings(klue, tmp_path / "cache"), caplog)
    assert "PLANTED by another user" not in prepared.notes and prepared.notes == fresh.notes
    assert f"prepared data cache {folder} not used: owned by uid" in log
    assert json.loads((folder / META).read_text())["notes"] == ["PLANTED by another user"]


def test_the_bytes_hashed_are_the_bytes_parsed(klue, tmp_path, monkeypatch):
    """A writer of a shared data folder swaps the train file once we have read it: what is
    trained on is what was hashed (the cache key, MLflow's dataset digest), so the file is read
    once."""
    shared = Path(shutil.copytree(klue, tmp_path / "shared"))
    train = (shared / TRAIN).resolve()
    original = train.read_bytes()
    records = json.loads(original)
    poisoned = json.dumps([*records[:-1], {**records[-1], "guid": "planted-guid"}]).encode()
    opened, real_open = [], Path.open

    def open_then_swap(self, *args, **kwargs):
        if Path(self).resolve() == train:
            opened.append(args)
            if len(opened) == 2:  # the attacker's write lands between two reads
                with real_open(train, "wb") as handle:
                    handle.write(poisoned)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_then_swap)
    prepared = prepare_data(_settings(shared, tmp_path / "cache"), use_cache=False)
    guids = {guid for split in prepared.splits.values() for guid in split.guids}
    assert "planted-guid" not in guids and len(opened) == 1
    assert prepared.source_files["train"][1] == hashlib.sha256(original).hexdigest()
