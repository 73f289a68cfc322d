"""One trial: fine-tune the KLUE RE model with the sampled criterion, reporting every epoch.

``train_fn`` is the Ray Tune function trainable. Its first argument, ``sampled``, holds only the
sampled values (``criterion``, ``gamma``, ``learning_rate``, ...); the base ``settings`` and the
``data`` prepared once per sweep arrive through ``tune.with_parameters``. Reading ``_run_trial``
top to bottom shows the whole trial: settings → tracking → model → criterion → train (report
each epoch), at a batch that fits the GPU (``trainable.batch_fit``: out of memory halves the
per-device batch and doubles accumulation; the run's tags ``train.batch_size_used`` and
``train.gradient_accumulation_used`` say what it trained at). Every ``train.log_every_steps``
optimizer steps the trial prints a progress line and logs ``train_loss_step`` and ``lr_step``
(MLflow step = global step); MLflow's system monitor samples CPU, memory and GPU onto the
trial's run while it trains. The trial ends its own MLflow run when it finishes or raises; a run
Tune stops at a rung is ended by the sweep's driver, which made that decision
(``search.tracking.sweep_tracking``).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerState, set_seed
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import get_last_checkpoint

from losses import build_criterion
from trainable import permanent, tune_session
from trainable.batch_fit import BatchFit, train_within_memory
from trainable.best_model import BestModelKeeper
from trainable.common.settings import TrialSettings
from trainable.common.tracking import NODE_TAG, RunEnd
from trainable.common.yaml_config import dump_yaml
from trainable.data import PreparedData, prepare_data
from trainable.hf_trainer import TrainLog, build_trainer
from trainable.hooks import TrialHook
from trainable.model import build_model
from trainable.release import drop_frame_locals, release_memory
from trainable.tracking import monitor_system, open_trial_run

METRIC = "micro_f1"
HEADLINE = ("micro_f1", "auprc", "accuracy", "ce_loss")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the trial stops instead of reporting garbage."""


def train_fn(
    sampled: dict[str, Any],
    *,
    settings: TrialSettings,
    data: PreparedData | None = None,
    hooks: Sequence[TrialHook] = (),
) -> None:
    """Ray Tune function trainable: one trial of the sweep (see the module docstring). A retry
    of a trial that failed for good fails again at once; whatever way the trial ends, it leaves
    nothing behind for the next trial Tune runs in this process (``trainable.release``)."""
    permanent.raise_if_recorded(tune_session.trial_dir())
    release_memory()  # what a trial Tune stopped in this process may have left
    try:
        _run_trial(sampled, settings, data, hooks)
    except BaseException as error:
        if isinstance(error, permanent.PermanentTrialError):
            permanent.record(error, tune_session.trial_dir())
        drop_frame_locals(error)
        raise
    finally:
        release_memory()


def _run_trial(
    sampled: dict[str, Any],
    settings: TrialSettings,
    data: PreparedData | None,
    hooks: Sequence[TrialHook],
) -> None:
    """settings → tracking → train at a batch that fits (report each epoch) → end the run."""
    settings = settings.with_sampled(sampled)
    data = data if data is not None else prepare_data(settings)
    seed = settings.train.effective_seed(settings.experiment.seed)
    torch.set_num_threads(tune_session.cpu_budget())  # no oversubscription when trials share a node

    run = open_trial_run(
        settings.tracking,
        tune_session.trial_id(),
        settings.run_name(tune_session.trial_id()),
        logged_params(settings),
        tags={NODE_TAG: tune_session.node_id(), **settings.tracking.tags},  # this attempt's node
        experiment_dir=settings.storage.path / settings.experiment.name,
    )
    run.log_text(dump_yaml(settings.portable()), "trial_settings.yaml")

    # HF's own per-epoch folders live outside the trial folder: Ray uploads that folder while
    # the Trainer rotates them, and a file deleted mid-upload failed Tune's state save.
    work_dir = _fresh_work_dir(tune_session.trial_id())
    resume_from = tune_session.restored_checkpoint(into=work_dir / "resume")
    keeper = _best_model_keeper(settings, run.run_id, seed, data)
    live: dict[str, torch.nn.Module] = {}  # the model of the attempt that is training

    def on_epoch(epoch: int, by_split: dict[str, dict[str, Any]], checkpoint_dir: Path) -> None:
        metrics = epoch_metrics(epoch, by_split)
        print(format_epoch(metrics), flush=True)
        per_class = {split: by_split[split]["per_class_f1"] for split in ("selection", "dev")}
        run.log_epoch(epoch, metrics, per_class)
        if keeper is not None:  # before the report: a kill after it must find this epoch kept
            keeper.after_epoch(epoch, metrics, live["model"], data.tokenizer)
        tune_session.report(metrics, checkpoint_dir)
        for hook in hooks:
            hook.after_epoch(epoch, resumed=resume_from is not None, sampled=sampled)

    def on_log(log: TrainLog) -> None:
        print(format_progress(log), flush=True)
        run.log_steps(log.global_step, {"train_loss_step": log.loss, "lr_step": log.learning_rate})

    def train_at(fit: BatchFit) -> None:
        """One attempt: a fresh model (seeded as always) from the last epoch this trial saved."""
        start = _saved_epoch(work_dir) or resume_from
        if _epochs_in(start) >= settings.train.num_train_epochs:
            return  # killed after its last report: the schedule's later epochs are not its own
        run.set_tags(fit.tags())
        set_seed(seed)
        model = live["model"] = build_model(settings.model, data.tokenizer, data.num_labels)
        criterion = build_criterion(
            settings.criterion.name,
            data.num_labels,
            class_counts=data.class_counts,
            **settings.criterion.params,
        )
        trainer = build_trainer(
            model,
            data,
            finite_loss_guard(criterion, settings.train.learning_rate, hooks),
            fit.applied(settings.train),
            seed=seed,
            output_dir=work_dir,
            on_epoch=on_epoch,
            on_log=on_log,
        )
        trainer.train(resume_from_checkpoint=str(start) if start else None)

    try:
        with monitor_system(settings.tracking, run.run_id):  # stopped however training ends
            train_within_memory(train_at, BatchFit.configured(settings.train))
    except Exception as error:
        run.finish(RunEnd.failed(f"{type(error).__name__}: {error}"))
        raise
    finally:  # Tune persisted every reported checkpoint; HF's local copies would double the disk
        live.clear()
        shutil.rmtree(work_dir, ignore_errors=True)
    if keeper is not None:
        keeper.finish()
    run.finish(RunEnd.finished())


def _best_model_keeper(
    settings: TrialSettings, run_id: str | None, seed: int, data: PreparedData
) -> BestModelKeeper | None:
    """Confirmation runs keep their best model for the report (``trainable.best_model``)."""
    if settings.storage.best_model is None or run_id is None:
        return None
    describe = {
        "label_names": data.label_names,
        "marker": settings.data.marker,
        "max_length": settings.data.max_length,
    }
    return BestModelKeeper(settings.storage.best_model, run_id, seed, describe)


def _fresh_work_dir(trial_id: str) -> Path:
    """A private temporary folder for HF's per-epoch checkpoints, outside the trial folder Ray
    uploads. Folders an earlier attempt of this trial left on this machine (its process was
    killed before it could delete them) go first: each holds a whole model."""
    prefix = f"hf-{trial_id}-"
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        if stale.is_dir() and not stale.is_symlink() and stale.stat().st_uid == os.getuid():
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix))


def _saved_epoch(work_dir: Path) -> str | None:
    """The last epoch an earlier attempt of this trial (one that ran out of memory) saved."""
    return get_last_checkpoint(str(work_dir)) if work_dir.is_dir() else None


def _epochs_in(checkpoint: str | Path | None) -> int:
    """Epochs trained into an HF checkpoint (0 for none). A trial resumed from its last epoch
    must train nothing: the Trainer would go on through the schedule's later epochs (the
    longest trial's), and ``_StopAfter`` stops only at an epoch's end."""
    if checkpoint is None:
        return 0
    state = TrainerState.load_from_json(str(Path(checkpoint) / TRAINER_STATE_NAME))
    return round(state.epoch or 0)


def finite_loss_guard(
    criterion: Callable[..., torch.Tensor], learning_rate: float, hooks: Sequence[TrialHook] = ()
) -> Callable[..., torch.Tensor]:
    """Raise ``NonFiniteLossError`` on a NaN/inf loss. The check syncs once per step, as the
    Trainer's own ``logging_nan_inf_filter`` already does."""

    training_steps = 0

    def compute_loss(outputs, labels, num_items_in_batch=None) -> torch.Tensor:
        nonlocal training_steps
        training = torch.is_grad_enabled()
        if training:
            for hook in hooks:
                hook.training_batch(labels.shape[0])
        loss = criterion(outputs, labels, num_items_in_batch=num_items_in_batch)
        if training:
            training_steps += 1
            for hook in hooks:
                loss = hook.training_loss(loss, training_steps)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss.item()} with criterion {criterion!r} at "
                f"learning_rate={learning_rate}: lower the learning rate or "
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


def format_progress(log: TrainLog) -> str:
    """``epoch 1 step 120/512 (23%) | loss 2.31 | 85 examples/s | epoch ETA 1m12s``"""
    return (
        f"epoch {log.epoch} step {log.step}/{log.steps_in_epoch} "
        f"({100 * log.step / log.steps_in_epoch:.0f}%) | loss {log.loss:.2f} | "
        f"{log.examples_per_s:.0f} examples/s | epoch ETA {format_duration(log.eta_s)}"
    )


def format_duration(seconds: float) -> str:
    """``45s``, ``1m12s``, ``2h05m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_epoch(metrics: dict[str, float]) -> str:
    parts = [f"epoch {int(metrics['epoch'])}"]
    parts += [f"{name} {metrics[name]:.2f}" for name in HEADLINE]
    parts += [f"dev_{name} {metrics['dev_' + name]:.2f}" for name in HEADLINE]
    return " | ".join(parts)
