"""A trained relation classifier as a self-contained folder: save, load, predict.

What the report registers in MLflow and what ``search.predict`` and ``mlflow models serve``
run. The folder holds everything that turns a KLUE record into the 30 probabilities, so it
answers in a fresh process with no config and no network:

- ``model.safetensors``: the classifier's weights (no optimizer state; safetensors, no pickle);
- ``encoder/``: the encoder's config (its architecture, rebuilt with no download);
- ``tokenizer/``: the tokenizer the model trained with, marker tokens included;
- ``relation_model.json``: KLUE's label order, the entity-marker style, ``max_length``, the head.

Inputs are encoded exactly as the training data was (``trainable.data.tokenize_records``), and
evaluation runs batch by batch in eval mode, so its scores on a split equal the trial's own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_model, save_model
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
)

from trainable.model import RelationClassifier
from trainable.records import Record

MODEL_FILE = "model.safetensors"
ENCODER_DIR = "encoder"
TOKENIZER_DIR = "tokenizer"
DESCRIPTION_FILE = "relation_model.json"


@dataclass(frozen=True)
class ModelDescription:
    """What, besides weights and tokenizer, turns a record into probabilities."""

    label_names: list[str]  # KLUE's order: output column i is label_names[i]
    marker: str  # entity-marker style (trainable.markers)
    max_length: int  # tokens; longer inputs are truncated as in training
    head: str  # entity_start or cls
    encoder_pooler: bool  # whether the encoder was built with its pooling layer


@dataclass
class RelationModel:
    model: RelationClassifier
    tokenizer: PreTrainedTokenizerBase
    description: ModelDescription


def save_relation_model(
    model: RelationClassifier,
    tokenizer: PreTrainedTokenizerBase,
    *,
    label_names: Sequence[str],
    marker: str,
    max_length: int,
    folder: Path,
) -> None:
    """Write ``model`` and what it needs to predict into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    description = ModelDescription(
        label_names=list(label_names),
        marker=marker,
        max_length=max_length,
        head=model.head_type,
        encoder_pooler=getattr(model.encoder, "pooler", None) is not None,
    )
    save_model(model, str(folder / MODEL_FILE))
    model.encoder.config.save_pretrained(folder / ENCODER_DIR)
    tokenizer.save_pretrained(folder / TOKENIZER_DIR)
    (folder / DESCRIPTION_FILE).write_text(json.dumps(asdict(description), indent=2), "utf-8")


def load_relation_model(folder: Path) -> RelationModel:
    """The model saved in ``folder``, in eval mode on the CPU; local files only, no remote
    code (a folder is data, never a program)."""
    description = ModelDescription(**json.loads((folder / DESCRIPTION_FILE).read_text("utf-8")))
    config = AutoConfig.from_pretrained(
        folder / ENCODER_DIR, local_files_only=True, trust_remote_code=False
    )
    pooler = {} if description.encoder_pooler else {"add_pooling_layer": False}
    encoder = AutoModel.from_config(config, trust_remote_code=False, **pooler)
    model = RelationClassifier(
        encoder, len(description.label_names), head=description.head, dropout=0.0
    )
    load_model(model, str(folder / MODEL_FILE))
    tokenizer = AutoTokenizer.from_pretrained(
        folder / TOKENIZER_DIR, local_files_only=True, trust_remote_code=False
    )
    return RelationModel(model.eval(), tokenizer, description)


def predict_frame(relation_model: RelationModel, records: Sequence[Record]) -> pd.DataFrame:
    """``pred_label`` (the most probable label) and one probability column per label, in
    KLUE's label order: what the registered model answers."""
    labels = relation_model.description.label_names
    probabilities = predict_probabilities(relation_model, records)
    frame = pd.DataFrame(probabilities, columns=labels)
    frame.insert(0, "pred_label", [labels[i] for i in probabilities.argmax(axis=1)])
    return frame


@torch.inference_mode()
def predict_probabilities(
    relation_model: RelationModel, records: Sequence[Record], batch_size: int = 64
) -> np.ndarray:
    """Softmax probabilities ``[len(records), num_labels]`` in ``label_names`` order."""
    return _softmax(predict_logits(relation_model, records, batch_size))


@torch.inference_mode()
def predict_logits(
    relation_model: RelationModel, records: Sequence[Record], batch_size: int = 64
) -> np.ndarray:
    """Logits ``[len(records), num_labels]``, batched and padded as the Trainer evaluates."""
    from trainable.data import tokenize_records  # the training data's own encoding

    description = relation_model.description
    dataset, _ = tokenize_records(
        list(records),
        relation_model.tokenizer,
        description.marker,
        description.max_length,
        label_ids=None,
    )
    collate = DataCollatorWithPadding(relation_model.tokenizer, pad_to_multiple_of=8)
    logits = []
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batch.pop("labels", None)
        logits.append(relation_model.model(**batch).logits.float().numpy())
    width = len(description.label_names)
    return np.concatenate(logits) if logits else np.zeros((0, width), dtype=np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
