"""A confirmation run's best model, kept for the report to register; one per criterion.

The report registers the model of the criterion its verdict recommends: of that criterion's
confirmation seeds the one with the best selection-split score, at its best selection epoch
(the earliest on ties, then the lowest seed: the report's own rule), never chosen on dev.
Tune checkpoints are gone once a run ends (``checkpoint_retention``), so each confirmation run
keeps its model apart, weights only:

- while it trains, ``<dir>/<run id>/`` holds its best epoch so far (replaced whole, through a
  rename, when an epoch beats it; ``progress.json`` says which, so a retry continues the race);
- when it finishes it writes ``kept.json`` (its epoch, score and seed), then deletes every
  finished folder of ``<dir>`` that another finished folder beats, itself included.

``dir`` is one criterion's folder, shared by its seeds. Each run writes ``kept.json`` before it
looks, so of two runs ending together the later one to look sees both; the overall best is
never beaten, so it is never deleted. On disk at any time: one model per criterion, plus one
per run still training.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from trainable.common.directions import direction, is_better
from trainable.common.settings import BestModelSettings
from trainable.model import RelationClassifier
from trainable.relation_model import save_relation_model

PROGRESS_FILE = "progress.json"
KEPT_FILE = "kept.json"


@dataclass(frozen=True)
class KeptModel:
    """A finished run's best epoch, as ``kept.json`` records it."""

    run_id: str
    seed: int
    epoch: int
    score: float
    metric: str
    folder: Path


class BestModelKeeper:
    """Follows one confirmation run epoch by epoch (see the module docstring)."""

    def __init__(
        self,
        settings: BestModelSettings,
        run_id: str,
        seed: int,
        describe: dict,  # label_names, marker, max_length: save_relation_model's keywords
    ) -> None:
        self.metric = settings.metric
        self.root = settings.dir
        self.folder = settings.dir / run_id
        self.run_id, self.seed, self.describe = run_id, seed, describe
        self.best = _read_json(self.folder / PROGRESS_FILE)  # a retry continues the race

    def after_epoch(
        self,
        epoch: int,
        metrics: dict[str, float],
        model: RelationClassifier,
        tokenizer: PreTrainedTokenizerBase,
    ) -> None:
        score = metrics[self.metric]
        if self.best and not is_better(score, self.best["score"], self.metric):
            return  # not better: an equal later epoch loses to the earlier one
        staging = self.root / f".{self.run_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        save_relation_model(model, tokenizer, folder=staging, **self.describe)
        self.best = {"epoch": epoch, "score": score}
        (staging / PROGRESS_FILE).write_text(json.dumps(self.best), "utf-8")
        shutil.rmtree(self.folder, ignore_errors=True)
        staging.rename(self.folder)

    def finish(self) -> None:
        """The run finished: record its best, then keep only the criterion's best."""
        if not self.best:
            return
        kept = {**self.best, "run_id": self.run_id, "seed": self.seed, "metric": self.metric}
        (self.folder / KEPT_FILE).write_text(json.dumps(kept), "utf-8")
        finished = kept_models(self.root)
        if not finished:
            return
        winner = best_kept(finished)
        for model in finished:
            if model.folder != winner.folder:
                shutil.rmtree(model.folder, ignore_errors=True)


def kept_models(root: Path) -> list[KeptModel]:
    """The finished runs' models under one criterion's folder."""
    models = []
    for kept in sorted(root.glob(f"*/{KEPT_FILE}")):
        record = _read_json(kept)
        if record:
            models.append(KeptModel(folder=kept.parent, **record))
    return models


def best_kept(models: list[KeptModel]) -> KeptModel:
    """The best score, then the lowest seed: the report's choice among seeds."""
    sign = 1 if direction(models[0].metric) == "max" else -1
    return max(models, key=lambda model: (sign * model.score, -model.seed))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
