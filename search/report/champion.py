"""The verdict as a model: register the recommended criterion's confirmed model in MLflow.

The headline recommends a criterion (``Confirmation.recommended``): the race's winner; the
baseline when the criteria left are equivalent to it; else, undecided, the best mean left.
Of that criterion's confirmation seeds, the one with the best *selection* score at its best
selection epoch (the earliest on ties, then the lowest seed) gives the model, never chosen on
dev. Its confirmation run kept that model on disk (``trainable.best_model``); it is logged on
that run as an MLflow pyfunc model, registered as a new version of ``name`` with the alias
``champion``, and tagged with what the verdict says. The report then deletes the kept models:
from there on the model lives in MLflow's artifact store only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from search.confirmation.training import Confirmation
from search.tracking import (
    RegisteredVersion,
    champion_again,
    data_sha256,
    register_relation_model,
)
from trainable.best_model import best_kept, kept_models
from trainable.common.directions import direction

# A KLUE-form record: the registered model's input example and signature.
EXAMPLE_RECORD = {
    "sentence": "비틀즈는 영국 리버풀에서 결성된 록 밴드이며 조지 해리슨은 그 멤버였다.",
    "subject_entity": {"word": "비틀즈", "start_idx": 0, "end_idx": 2, "type": "ORG"},
    "object_entity": {"word": "조지 해리슨", "start_idx": 25, "end_idx": 30, "type": "PER"},
}


@dataclass(frozen=True)
class Champion:
    """What the verdict recommends and which confirmation run's model stands for it."""

    criterion: str
    significant: bool  # the race declared it better than every other criterion
    run_id: str
    seed: int
    epoch: int


def choose_champion(confirmation: Confirmation, metric: str) -> Champion:
    """The recommended criterion's seed with the best selection score (the earliest epoch and
    then the lowest seed on ties, as ``trainable.best_model`` keeps them)."""
    criterion = confirmation.recommended
    scores = confirmation.scores
    runs = scores[(scores["criterion"] == criterion) & scores[metric].notna()]
    sign = 1 if direction(metric) == "max" else -1
    best = max(runs.itertuples(), key=lambda row: (sign * getattr(row, metric), -row.seed))
    significant = confirmation.decision == "winner"
    return Champion(criterion, significant, best.run_id, int(best.seed), int(best.epoch))


def register_champion(
    champion: Champion,
    models_root: Path,
    *,
    uri: str,
    name: str,
    parent_run_id: str,
    tags: dict[str, str],
) -> tuple[RegisteredVersion | None, str]:
    """Register the champion's kept model; return the version (None when none could be) and
    the line the report prints. The caller deletes the kept models once it is decided."""
    finished = kept_models(models_root / champion.criterion)
    kept = best_kept(finished) if finished else None
    if kept is None or kept.run_id != champion.run_id or kept.epoch != champion.epoch:
        earlier = champion_again(uri, name, champion.run_id)
        if earlier is not None:
            return earlier, (
                f"model: {earlier.name} version {earlier.version}, registered by an earlier "
                f"report of this sweep, is @{earlier.alias} again ({champion.criterion}, seed "
                f"{champion.seed}, epoch {champion.epoch}): {earlier.uri}"
            )
        return None, (
            f"model: not registered: the {champion.criterion} model of seed {champion.seed} "
            f"(epoch {champion.epoch}) is no longer on disk (its run finished in an earlier "
            "report); re-run the report with a new experiment.name to train and register it"
        )
    example = pd.DataFrame([EXAMPLE_RECORD])
    output = _predict_example(kept.folder, example)
    shas = {f"data.{role}_sha256": sha for role, sha in data_sha256(uri, parent_run_id).items()}
    version = register_relation_model(
        uri,
        champion.run_id,
        kept.folder,
        name,
        example=example,
        output=output,
        tags={
            **tags,
            **shas,
            "significant": str(champion.significant).lower(),
            "seed": str(champion.seed),
            "epoch": str(champion.epoch),
            "sweep.parent_run_id": parent_run_id,
            "confirmation.run_id": champion.run_id,
        },
    )
    return version, (
        f"model: registered {version.name} version {version.version} as @{version.alias} "
        f"({champion.criterion}, seed {champion.seed}, epoch {champion.epoch}): {version.uri}"
    )


def _predict_example(folder: Path, example: pd.DataFrame) -> pd.DataFrame:
    """The model's answer to the example: its signature's output, and proof that it loads."""
    from trainable.records import parse_input_records
    from trainable.relation_model import load_relation_model, predict_frame

    return predict_frame(
        load_relation_model(folder), parse_input_records(example.to_dict("records"))
    )
