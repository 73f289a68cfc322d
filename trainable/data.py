"""Prepare KLUE RE once per sweep: load → subsample → split → tokenizer → tokenized splits.

Trials receive a ``PreparedData`` (through Ray's object store) and never tokenize. The result is
also cached on disk (``trainable.data_cache``), keyed by everything that shapes it (data file
hashes, marker, max_length, tokenizer, split settings, seed), so re-running a sweep or a single
trial skips the work.

The official KLUE files are fetched first when no folder is named (``trainable.fetch``);
``python -m trainable.data fetch [--dest DIR]`` fetches them on their own.

Splits: ``train`` (what the model fits), ``selection`` (what the search selects on: a stratified,
seeded holdout of train grouped by sentence, identical for every trial; or KLUE dev when
``selection: dev``) and ``dev`` (KLUE dev: always evaluated and reported, never selected on under
``holdout``). KLUE train holds several entity pairs per sentence, so an example-level holdout
would score the search on sentences the model trained on; the holdout keeps each sentence whole.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

from trainable.common.cli import run_cli
from trainable.common.settings import TrialSettings, download_dir
from trainable.data_cache import CACHE_FORMAT, read_cache, write_cache
from trainable.fetch import LICENSE, fetch_klue_re
from trainable.markers import mark_entities
from trainable.model import build_tokenizer
from trainable.prepared import PreparedData, RelationDataset
from trainable.records import DataError, Record, load_label_names, load_records
from trainable.splits import (
    hold_out,
    selection_note,
    shared_sentences_note,
    subsample,
)

logger = logging.getLogger(__name__)


def prepare_data(settings: TrialSettings, *, use_cache: bool = True) -> PreparedData:
    """Build (or load from the disk cache) everything a trial needs from the data."""
    data = settings.data
    folder = data.resolved_dir()
    files = [folder / data.train_file, folder / data.dev_file, folder / data.relation_file]
    if data.downloads():  # before any hashing or tokenizing: offline, this fails in seconds
        fetch_klue_re(folder, [path.name for path in files])
    contents = [_read_file(path) for path in files]  # hashed and parsed: read once
    sources = {
        role: (str(path.resolve()), hashlib.sha256(content).hexdigest())
        for role, path, content in zip(("train", "dev", "relations"), files, contents, strict=True)
    }
    fingerprint = _fingerprint(settings, [digest for _, digest in sources.values()])
    cache = data.resolved_cache_dir() / fingerprint
    if use_cache and (cached := read_cache(cache)) is not None:
        logger.info("prepared data: cache hit %s", cache)
        cached.source_files = sources  # same content, maybe another folder: report this one
        return cached
    prepared = _prepare(settings, files, contents, fingerprint=fingerprint)
    prepared.source_files = sources
    if use_cache:
        write_cache(cache, prepared)
    return prepared


def prepare_data_verbose(settings: TrialSettings) -> PreparedData:
    """``prepare_data`` for a command line: where the data comes from before (a first run
    tokenizes for a while), and what the preparation noted after."""
    print(f"preparing data from {settings.data.resolved_dir()} ...", flush=True)
    data = prepare_data(settings)
    print("\n".join(data.notes), flush=True)
    return data


def _prepare(
    settings: TrialSettings, files: list[Path], contents: list[bytes], fingerprint: str
) -> PreparedData:
    """``files`` (train, dev, relations) as their ``contents``, the bytes the key was hashed
    from: a file swapped after that read cannot be trained on under the official key."""
    data, seed = settings.data, settings.experiment.seed
    (train_file, dev_file, relation_file), (train_bytes, dev_bytes, relation_bytes) = (
        files,
        contents,
    )
    label_names = load_label_names(relation_file, relation_bytes)
    train, train_report = load_records(
        train_file,
        label_names,
        on_bad_record=data.on_bad_record,
        dedupe=data.dedupe,
        content=train_bytes,
    )
    dev, dev_report = load_records(
        dev_file, label_names, on_bad_record=data.on_bad_record, dedupe=False, content=dev_bytes
    )
    notes = [train_report.summary(), dev_report.summary()]
    if data.train_subsample:
        train = subsample(train, data.train_subsample, seed)
    if data.dev_subsample:
        dev = subsample(dev, data.dev_subsample, seed)
    notes.append(shared_sentences_note(dev, train))
    if data.selection == "holdout":
        train, selection = hold_out(train, _holdout_size(train, data), seed)
    else:
        selection = dev
    notes.append(selection_note(selection, train, data.selection))
    marked_train = [mark_entities(r, data.marker).text for r in train]
    tokenizer = build_tokenizer(settings.model, marked_train, data.max_length)
    label_ids = {name: index for index, name in enumerate(label_names)}
    splits = {}
    for name, records in (("train", train), ("selection", selection), ("dev", dev)):
        splits[name], truncated = tokenize_records(
            records, tokenizer, data.marker, data.max_length, label_ids
        )
        if truncated:
            notes.append(f"{name}: {truncated} examples lost an entity marker to truncation")
    counts = Counter(label_ids[r.label] for r in train)
    notes.append(", ".join(f"{name} {len(split)}" for name, split in splits.items()))
    return PreparedData(
        label_names=label_names,
        tokenizer=tokenizer,
        splits=splits,
        class_counts=[counts.get(i, 0) for i in range(len(label_names))],
        fingerprint=fingerprint,
        notes=notes,
    )


def _holdout_size(train: list[Record], data) -> int:
    return max(1, round(len(train) * data.holdout_fraction))


def tokenize_records(
    records: list[Record],
    tokenizer: PreTrainedTokenizerBase,
    marker: str,
    max_length: int,
    label_ids: dict[str, int] | None,
) -> tuple[RelationDataset, int]:
    """Tokenize once; map each entity's start marker to its token position (0 if truncated).
    Also what a registered model runs on new records (``trainable.relation_model``), with
    ``label_ids=None``: labels are then -100, the value every loss and metric ignores.
    Returns the dataset and how many examples lost a marker to truncation."""
    marked = [mark_entities(r, marker) for r in records]
    encoded = tokenizer([m.text for m in marked], truncation=True, max_length=max_length)
    subject_pos = np.zeros(len(records), dtype=np.int64)
    object_pos = np.zeros(len(records), dtype=np.int64)
    truncated = 0
    for i, text in enumerate(marked):
        subject = encoded.char_to_token(i, text.subject_char)
        obj = encoded.char_to_token(i, text.object_char)
        truncated += subject is None or obj is None
        subject_pos[i], object_pos[i] = subject or 0, obj or 0
    input_ids = [np.asarray(ids, dtype=np.int32) for ids in encoded["input_ids"]]
    labels = np.array(
        [label_ids[r.label] if label_ids is not None else -100 for r in records], dtype=np.int64
    )
    guids = [r.guid for r in records]
    return RelationDataset(guids, input_ids, subject_pos, object_pos, labels), truncated


# ---------------------------------------------------------------- cache key
def _fingerprint(settings: TrialSettings, file_hashes: list[str]) -> str:
    data = settings.data
    key = {
        "format": CACHE_FORMAT,
        "files": file_hashes,
        "tokenizer": settings.model.scratch.model_dump()
        if settings.model.is_scratch
        else settings.model.name_or_path,
        "seed": settings.experiment.seed,
        **data.model_dump(
            include={
                "marker",
                "max_length",
                "selection",
                "holdout_fraction",
                "train_subsample",
                "dev_subsample",
                "dedupe",
                "on_bad_record",
            }
        ),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{path}: file not found. Put the KLUE RE v1.1 files there (python -m trainable.data "
            f"fetch --dest {path.parent}), point KLUE_RE_DIR / data.dir at their folder, or leave "
            "both unset to have them downloaded into your cache"
        ) from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """``python -m trainable.data fetch [--dest DIR]``: the official files, where you want them.
    Exit codes: 0 done (or already there), 2 not fetched (one line says why)."""
    parser = argparse.ArgumentParser(
        prog="python -m trainable.data", description="The data step's tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser(
        "fetch", help="download and verify the KLUE RE v1.1 files (train, dev, relation_list)"
    )
    fetch.add_argument(
        "--dest", type=Path, default=None, help=f"folder to put them in (default: {download_dir()})"
    )
    args = parser.parse_args(argv)
    return run_cli(lambda: _fetch(args.dest), interrupted="nothing kept but verified files")


def _fetch(dest: Path | None) -> int:
    dest = (dest or download_dir()).expanduser().resolve()
    if not fetch_klue_re(dest):
        print(
            f"KLUE RE v1.1 already in {dest}, sha256 verified (license {LICENSE}); nothing "
            "downloaded"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
