"""The prepared-data disk cache, stored in formats that hold data and nothing that runs.

The cache folder may be shared and its key is computable (KLUE is public), so whoever can write
there decides what a sweep or report reads back: reading must never run code. Arrays go through
NumPy with ``allow_pickle=False``, everything else through JSON, and the tokenizer through its
own ``save_pretrained`` (``tokenizer.json``), loaded from the local folder without remote code
and compared with a description saved beside it. A folder that is unreadable, incomplete or
disagrees with itself (an older cache's ``prepared.pkl`` included, never opened) is logged and
rebuilt. A folder (or cache root) another user owns is logged and neither read nor replaced:
its owner could change it between our check and our read.

One folder per key::

    meta.json     format, key, label names, class counts, notes, guids, tokenizer description
    arrays.npz    per split: input_ids (one flat int array), offsets (n + 1), positions, labels
    tokenizer/    save_pretrained
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from trainable.prepared import PreparedData, RelationDataset

logger = logging.getLogger(__name__)
CACHE_FORMAT = 5  # bump when this layout, PreparedData's fields or the scratch tokenizer change
META, ARRAYS, TOKENIZER = "meta.json", "arrays.npz", "tokenizer"


def read_cache(folder: Path) -> PreparedData | None:
    """The data cached at ``folder`` (named by its key), or None: absent, or unusable (logged)."""
    if not os.path.lexists(folder):
        return None
    if (stranger := _foreign_owner(folder)) is not None:
        logger.warning(
            "prepared data cache %s not used: owned by uid %d, not this user", folder, stranger
        )
        return None
    try:
        return _load(folder)
    except Exception as error:  # whatever is wrong with it, rebuilding is the fix
        logger.warning("prepared data cache %s unusable, rebuilding: %s", folder, _why(error))
        return None


def write_cache(folder: Path, prepared: PreparedData) -> None:
    """Write into a staging folder, then rename it into place: no reader sees half a cache."""
    staging = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if (stranger := _foreign_owner(folder.parent)) is not None:
            logger.warning(
                "prepared data not cached: %s is owned by uid %d, not this user",
                folder.parent,
                stranger,
            )
            return
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
        _dump(staging, prepared)
        _publish(staging, folder)
    except OSError as error:
        logger.warning("prepared data not cached (%s): %s", folder, error)
    finally:
        if staging is not None:
            _remove(staging)  # left only when publishing failed


# ---------------------------------------------------------------- writing
def _dump(folder: Path, prepared: PreparedData) -> None:
    prepared.tokenizer.save_pretrained(folder / TOKENIZER)
    arrays: dict[str, np.ndarray] = {}
    for name, split in prepared.splits.items():
        lengths = [len(ids) for ids in split.input_ids]
        arrays[f"{name}.input_ids"] = np.concatenate([np.zeros(0, np.int32), *split.input_ids])
        arrays[f"{name}.offsets"] = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        arrays[f"{name}.subject_pos"] = split.subject_pos
        arrays[f"{name}.object_pos"] = split.object_pos
        arrays[f"{name}.labels"] = split.labels
    np.savez_compressed(folder / ARRAYS, **arrays)  # token ids shrink to ~40%, read as fast
    meta = {
        "format": CACHE_FORMAT,
        "fingerprint": prepared.fingerprint,
        "label_names": prepared.label_names,
        "class_counts": prepared.class_counts,
        "notes": prepared.notes,
        "guids": {name: split.guids for name, split in prepared.splits.items()},
        "tokenizer": _describe(prepared.tokenizer),
        "tokenizer_name_or_path": prepared.tokenizer.name_or_path,
    }
    (folder / META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def _publish(staging: Path, folder: Path) -> None:
    """Rename ``staging`` to ``folder``. A usable folder already there is another process's
    identical result and stays; an unusable one is set aside and replaced, so it is rebuilt
    once rather than on every run."""
    try:
        staging.rename(folder)
        return
    except OSError:
        if not os.path.lexists(folder):
            raise
    if _foreign_owner(folder) is not None or _usable(folder):
        return  # another user's folder is theirs to fix; ours that loads is the same result
    aside = folder.with_name(f".stale-{folder.name}-{uuid.uuid4().hex[:8]}")
    folder.rename(aside)
    staging.rename(folder)
    _remove(aside)


def _foreign_owner(path: Path) -> int | None:
    """The owner of ``path`` (not followed if a link) or of its folder, when not this user."""
    for owner in (os.lstat(path).st_uid, os.stat(path.parent).st_uid):
        if owner != os.geteuid():
            return owner
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- reading
def _load(folder: Path) -> PreparedData:
    if not (folder / META).is_file():
        raise ValueError(f"no {META}: incomplete, or an older format (prepared.pkl is never read)")
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    _require(meta["format"] == CACHE_FORMAT, f"format {meta['format']}, not {CACHE_FORMAT}")
    _require(meta["fingerprint"] == folder.name, "written for another key")
    tokenizer = _load_tokenizer(folder / TOKENIZER, meta["tokenizer"])
    tokenizer.name_or_path = meta["tokenizer_name_or_path"]
    label_names, class_counts = meta["label_names"], meta["class_counts"]
    _require(_strings(label_names) and len(class_counts) == len(label_names), "label facts")
    with np.load(folder / ARRAYS, allow_pickle=False) as arrays:
        splits = {
            name: _split(name, guids, arrays, len(label_names), len(tokenizer))
            for name, guids in meta["guids"].items()
        }
    return PreparedData(
        label_names=label_names,
        tokenizer=tokenizer,
        splits=splits,
        class_counts=[int(count) for count in class_counts],
        fingerprint=meta["fingerprint"],
        notes=[str(note) for note in meta["notes"]],
    )


def _load_tokenizer(folder: Path, expected: dict[str, Any]) -> PreTrainedTokenizerBase:
    """The saved tokenizer, from local files only and never with remote code; it must match the
    description saved with it, so a cache that loads differently is rebuilt, not trained on."""
    tokenizer = AutoTokenizer.from_pretrained(
        folder, local_files_only=True, trust_remote_code=False
    )
    _require(_describe(tokenizer) == expected, "the tokenizer loads differently than it was saved")
    return tokenizer


def _split(
    name: str, guids: list[str], arrays: Any, num_labels: int, vocab_size: int
) -> RelationDataset:
    """One split's arrays, checked against each other: a damaged or altered cache is rebuilt
    here rather than failing mid-training."""
    flat, offsets, subject, obj, labels = (
        arrays[f"{name}.{key}"]
        for key in ("input_ids", "offsets", "subject_pos", "object_pos", "labels")
    )
    n = len(guids)
    _require(_strings(guids), f"{name}: guids")
    _require(all(a.dtype.kind in "iu" for a in (flat, offsets, subject, obj, labels)), name)
    _require(offsets.shape == (n + 1,) and offsets[0] == 0 and offsets[-1] == len(flat), name)
    lengths = np.diff(offsets)
    _require(all(a.shape == (n,) for a in (subject, obj, labels)), f"{name}: lengths")
    for positions in (subject, obj):
        _require(bool(np.all((positions >= 0) & (positions < lengths))), f"{name}: positions")
    _require(bool(np.all((labels >= 0) & (labels < num_labels))), f"{name}: labels")
    _require(bool(np.all((flat >= 0) & (flat < vocab_size))), f"{name}: token ids")
    input_ids = [flat[offsets[i] : offsets[i + 1]] for i in range(n)]
    return RelationDataset(list(guids), input_ids, subject, obj, labels)


def _describe(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """What a trial depends on: class, size, length limit, special tokens and the whole backend
    (vocabulary, added marker tokens, normalizer, post-processor template), as JSON values."""
    backend = tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast else ""
    description = {
        "class": type(tokenizer).__name__,
        "is_fast": tokenizer.is_fast,
        "size": len(tokenizer),
        "model_max_length": tokenizer.model_max_length,
        "pad_token_id": tokenizer.pad_token_id,
        "special_tokens": tokenizer.special_tokens_map,
        "backend_sha256": hashlib.sha256(backend.encode()).hexdigest(),
    }
    return json.loads(json.dumps(description))


def _strings(values: object) -> bool:
    return isinstance(values, list) and all(isinstance(value, str) for value in values)


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"inconsistent: {what}")


def _usable(folder: Path) -> bool:
    try:
        _load(folder)
    except Exception:
        return False
    return True


def _why(error: Exception) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
