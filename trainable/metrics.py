"""KLUE RE metrics (Park et al. 2021, arXiv:2105.09680, and KLUE's official scorer).

- ``micro_f1``: micro-averaged F1 over the 29 relations, ``no_relation`` (id 0) excluded, × 100.
  Over all 30 labels micro-F1 would equal accuracy; KLUE never reports that as micro-F1.
- ``auprc``: per class, one-vs-rest area under the precision-recall curve of the softmax
  probability (``auc(recall, precision)``), averaged over classes, × 100. A class without a
  positive in the split has no curve: it is skipped and counted in ``auprc_classes_skipped``.
- ``accuracy`` (× 100) and ``ce_loss``: plain cross-entropy (nats), comparable across criteria,
  unlike each criterion's own loss.
- ``per_class_f1``: F1 × 100 of every label, by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import log_softmax
from sklearn.metrics import auc, f1_score, precision_recall_curve

NO_RELATION = 0


def klue_re_metrics(logits: Any, labels: Any, label_names: list[str]) -> dict[str, Any]:
    """KLUE RE scores of ``logits [N, K]`` against integer ``labels [N]`` (see module docstring)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    num_labels = len(label_names)
    if logits.ndim != 2 or logits.shape != (len(labels), num_labels):
        raise ValueError(
            f"expected logits of shape ({len(labels)}, {num_labels}), got {logits.shape}"
        )
    if len(labels) == 0:
        raise ValueError("cannot score an empty split")
    predictions = logits.argmax(axis=-1)
    log_probs = log_softmax(logits, axis=-1)
    relations = [i for i in range(num_labels) if i != NO_RELATION]
    auprc, skipped = _auprc(np.exp(log_probs), labels)
    per_class = f1_score(
        labels, predictions, labels=range(num_labels), average=None, zero_division=0
    )
    return {
        "micro_f1": 100.0
        * f1_score(labels, predictions, labels=relations, average="micro", zero_division=0),
        "auprc": auprc,
        "auprc_classes_skipped": skipped,
        "accuracy": 100.0 * float(np.mean(predictions == labels)),
        "ce_loss": float(-np.mean(log_probs[np.arange(len(labels)), labels])),
        "per_class_f1": {
            name: 100.0 * float(f) for name, f in zip(label_names, per_class, strict=True)
        },
    }


def _auprc(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    scores, skipped = [], 0
    for label in range(probabilities.shape[1]):
        positives = labels == label
        if not positives.any():
            skipped += 1
            continue
        precision, recall, _ = precision_recall_curve(positives, probabilities[:, label])
        scores.append(auc(recall, precision))
    return (100.0 * float(np.mean(scores)) if scores else 0.0), skipped
