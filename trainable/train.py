"""One trial: fine-tune the KLUE RE model with the sampled criterion, reporting every epoch.

    python -m trainable.train --config configs/quickstart.yaml [--set key=value ...]

``train_fn`` is the Ray Tune function trainable. Its ``config`` holds only the sampled values
(``criterion``, ``gamma``, ``learning_rate``, ...); the base ``settings`` and the ``data``
prepared once per sweep arrive through ``tune.with_parameters``. Reading ``train_fn`` top to
bottom shows the whole trial: settings → model → criterion → tracking → train (report each epoch).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import set_seed

from losses import build_criterion
from trainable.common import ray_tune
from trainable.common.settings import SWEEP_ONLY_SECTIONS, TrialSettings
from trainable.common.tracking import NODE_TAG, TrialRun
from trainable.common.yaml_config import ConfigError, add_config_arguments, dump_yaml, load_config
from trainable.data import PreparedData, prepare_data
from trainable.hf_trainer import build_trainer
from trainable.model import ModelLoadError, build_model
from trainable.records import DataError

METRIC = "micro_f1"
HEADLINE = ("micro_f1", "auprc", "accuracy", "ce_loss")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the trial stops instead of reporting garbage."""


class InjectedFailure(RuntimeError):
    """Raised by ``debug.fail_at_epoch``: tests prove retries resume from the checkpoint."""


def train_fn(
    config: dict[str, Any], *, settings: TrialSettings, data: PreparedData | None = None
) -> None:
    """Ray Tune function trainable: one trial of the sweep (see the module docstring)."""
    settings = settings.with_sampled(config)
    data = data if data is not None else prepare_data(settings)
    seed = settings.train.effective_seed(settings.experiment.seed)
    set_seed(seed)
    torch.set_num_threads(ray_tune.cpu_budget())  # no oversubscription when trials share a node

    model = build_model(settings.model, data.tokenizer, data.num_labels)
    criterion = build_criterion(
        settings.criterion.name,
        data.num_labels,
        class_counts=data.class_counts,
        **settings.criterion.params,
    )
    run = TrialRun.open(
        settings.tracking,
        ray_tune.trial_id(),
        ray_tune.trial_name(),
        logged_params(settings),
        tags={NODE_TAG: ray_tune.node_id(), **settings.tracking.tags},  # the latest attempt's node
        experiment_dir=settings.storage.path / settings.experiment.name,
    )
    if run is not None:
        run.log_text(dump_yaml(settings), "trial_settings.yaml")

    work_dir = ray_tune.trial_dir() / "hf"
    resume_from = ray_tune.restored_checkpoint(into=work_dir / "resume")

    reported_epochs: list[int] = []

    def on_epoch(epoch: int, by_split: dict[str, dict[str, Any]], checkpoint_dir: Path) -> None:
        reported_epochs.append(epoch)
        metrics = epoch_metrics(epoch, by_split)
        print(format_epoch(metrics), flush=True)
        if run is not None:
            per_class = {split: by_split[split]["per_class_f1"] for split in ("selection", "dev")}
            run.log_epoch(epoch, metrics, per_class)
        ray_tune.report(metrics, checkpoint_dir)
        if settings.debug.should_fail(epoch, resumed=resume_from is not None, sampled=config):
            raise InjectedFailure(f"debug.fail_at_epoch: failing after epoch {epoch}")

    trainer = build_trainer(
        model,
        data,
        finite_loss_guard(criterion, settings),
        settings.train,
        seed=seed,
        output_dir=work_dir,
        on_epoch=on_epoch,
    )
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except SystemExit:  # Tune ending the trial at a report (e.g. ASHA's cut), not a failure
        if run is not None:
            last = reported_epochs[-1] if reported_epochs else 0
            run.finish(stopped_early=last < settings.train.num_train_epochs)
        raise
    except BaseException as error:
        if run is not None:
            run.finish(error)
        raise
    finally:  # Tune persisted every reported checkpoint; HF's local copies would double the disk
        shutil.rmtree(work_dir, ignore_errors=True)
    if run is not None:
        run.finish()


def finite_loss_guard(criterion, settings: TrialSettings):
    """Raise ``NonFiniteLossError`` on a NaN/inf loss. The check syncs once per step, as the
    Trainer's own ``logging_nan_inf_filter`` already does."""

    training_steps = 0

    def compute_loss(outputs, labels, num_items_in_batch=None) -> torch.Tensor:
        nonlocal training_steps
        loss = criterion(outputs, labels, num_items_in_batch=num_items_in_batch)
        if torch.is_grad_enabled():
            training_steps += 1
            if training_steps == settings.debug.nan_loss_at_step:
                loss = loss * float("nan")
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss.item()} with criterion {criterion!r} at "
                f"learning_rate={settings.train.learning_rate}: lower the learning rate or "
                "change the criterion parameters"
            )
        return loss

    return compute_loss


def logged_params(settings: TrialSettings) -> dict[str, Any]:
    """MLflow params: the criterion, each of its parameters and each train knob by its own name."""
    params: dict[str, Any] = {"criterion": settings.criterion.name}
    params.update({k: v for k, v in settings.criterion.params.items() if v is not None})
    params.update(settings.train.model_dump())
    params.update(
        model=settings.model.name_or_path,
        head=settings.model.head,
        marker=settings.data.marker,
        seed=settings.train.effective_seed(settings.experiment.seed),
    )
    return params


def epoch_metrics(epoch: int, by_split: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Selection metrics keep plain names; KLUE dev metrics get ``dev_``; the criterion's own
    (not comparable) eval loss is ``criterion_loss``."""
    metrics: dict[str, float] = {"epoch": epoch}
    for split, prefix in (("selection", ""), ("dev", "dev_")):
        scores = by_split[split]
        for name in (*HEADLINE, "auprc_classes_skipped"):
            metrics[prefix + name] = float(scores[name])
        metrics[prefix + "criterion_loss"] = float(scores.get("loss", math.nan))
    if "train" in by_split:
        metrics["train_loss"] = float(by_split["train"]["loss"])
        metrics["lr"] = float(by_split["train"]["learning_rate"])  # where the schedule is
    return metrics


def format_epoch(metrics: dict[str, float]) -> str:
    parts = [f"epoch {int(metrics['epoch'])}"]
    parts += [f"{name} {metrics[name]:.2f}" for name in HEADLINE]
    parts += [f"dev_{name} {metrics['dev_' + name]:.2f}" for name in HEADLINE]
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainable.train", description="Run one training (one trial) locally."
    )
    add_config_arguments(parser, "train.num_train_epochs=2")
    args = parser.parse_args(argv)
    try:
        settings = load_config(
            args.config, TrialSettings, args.set, ignored_sections=SWEEP_ONLY_SECTIONS
        )
        print(f"preparing data from {settings.data.resolved_dir()} ...", flush=True)
        data = prepare_data(settings)
    except (ConfigError, DataError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(data.notes), flush=True)
    results = ray_tune.run_single_trial(
        train_fn, {}, name=settings.experiment.name, storage_path=settings.storage.path,
        metric=METRIC, settings=settings, data=data,
    )  # fmt: skip
    result = results[0]
    if result.error is not None:
        print(f"error: the trial failed: {result.error}", file=sys.stderr)
        return 1
    print(_metrics_table(result.metrics_dataframe))
    print(f"checkpoint: {result.checkpoint.path if result.checkpoint else 'none'}")
    return 0


def _metrics_table(frame) -> str:
    columns = ["epoch", *HEADLINE, *(f"dev_{name}" for name in HEADLINE)]
    return frame[columns].to_string(index=False, float_format=lambda v: f"{v:.2f}")


if __name__ == "__main__":
    sys.exit(main())
