"""The one adapter around HF ``Trainer``: arguments, metrics hook and the per-epoch callback.

The Trainer owns the loop (we write none): dynamic padding (``DataCollatorWithPadding``),
length-grouped batches, mixed precision and the other GPU settings (``trainable.device``),
per-epoch evaluation of the selection and dev splits, one local checkpoint per epoch
(``save_total_limit=1``). After each epoch's checkpoint is written,
``on_epoch(epoch, metrics_by_split, checkpoint_dir)`` is called: the trial reports there.
The Trainer logs the training loss every ``train.log_every_steps`` optimizer steps and at each
epoch's end; each log is handed to ``on_log(TrainLog)`` (progress and per-step metrics), and an
epoch's ``train`` loss is the step-weighted mean of its logs: the mean over all its steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    PrinterCallback,
    ProgressCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from trainable.common.settings import TrainSettings
from trainable.data import PreparedData
from trainable.device import trainer_arguments
from trainable.metrics import klue_re_metrics

EVAL_SPLITS = ("selection", "dev")
EpochHandler = Callable[[int, dict[str, dict[str, Any]], Path], None]


@dataclass(frozen=True)
class TrainLog:
    """One of the Trainer's training-loss logs, with where the epoch stands."""

    global_step: int  # optimizer steps since training began
    epoch: int  # from 1
    step: int  # optimizer steps into this epoch, from 1
    steps_in_epoch: int
    loss: float  # mean training loss over the steps since the previous log
    learning_rate: float  # at the last of those steps
    examples_per_s: float  # training examples per second since the previous log
    eta_s: float  # the epoch's remaining steps at this epoch's pace so far


LogHandler = Callable[[TrainLog], None]


def build_trainer(
    model: torch.nn.Module,
    data: PreparedData,
    compute_loss: Callable[..., torch.Tensor],
    settings: TrainSettings,
    *,
    seed: int,
    output_dir: Path,
    on_epoch: EpochHandler,
    on_log: LogHandler | None = None,
) -> Trainer:
    trainer = Trainer(
        model=model,
        args=_arguments(settings, seed, output_dir),
        train_dataset=data.splits["train"],
        eval_dataset={name: data.splits[name] for name in EVAL_SPLITS},
        processing_class=data.tokenizer,
        data_collator=DataCollatorWithPadding(data.tokenizer, pad_to_multiple_of=8),
        compute_loss_func=compute_loss,
        compute_metrics=lambda p: _scores(p, data.label_names),
    )
    # Our callbacks print a line per log and per epoch; tqdm bars and raw log dicts are noise
    # under Ray.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_EpochReporter(on_epoch))
    if on_log is not None:
        trainer.add_callback(_Progress(on_log, len(data.splits["train"])))
    trainer.add_callback(_StopAfter(settings.num_train_epochs))
    return trainer


def _arguments(settings: TrainSettings, seed: int, output_dir: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output_dir),
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size,
        num_train_epochs=settings.scheduled_epochs,  # the schedule; _StopAfter ends training
        warmup_steps=settings.warmup_ratio,  # a float in [0, 1) is a ratio of all steps
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        **trainer_arguments(settings.precision),  # precision and CUDA-only speedups
        train_sampling_strategy="group_by_length",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        logging_strategy="steps",  # and at each epoch's end (_EpochReporter)
        logging_steps=settings.log_every_steps,
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=settings.dataloader_workers,
    )


def _scores(prediction: EvalPrediction, label_names: list[str]) -> dict[str, Any]:
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    return klue_re_metrics(logits, prediction.label_ids, label_names)


class _StopAfter(TrainerCallback):
    """Ends training after ``epochs`` even when the learning-rate schedule spans more: a trial
    stops where its sampled epoch count says, on the same schedule as every other trial. Set at
    the epoch's end, the stop still lets that epoch be evaluated and saved."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, args, state, control, **kwargs):
        if round(state.epoch or 0) >= self.epochs:
            control.should_training_stop = True


class _EpochReporter(TrainerCallback):
    """Collects each split's evaluation and the epoch's training loss, then hands them over once
    the epoch's checkpoint exists.

    Each training-loss log is the mean over the steps since the previous one; the epoch's end
    always logs, so the step-weighted mean of an epoch's logs is its mean over all its steps."""

    def __init__(self, on_epoch: EpochHandler) -> None:
        self.on_epoch = on_epoch
        self.metrics: dict[str, dict[str, Any]] = {}
        self.logged_step = 0  # the global step of the previous training-loss log
        self.loss_sum = 0.0  # this epoch's logged losses, each times its steps
        self.loss_steps = 0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.logged_step, self.loss_sum, self.loss_steps = state.global_step, 0.0, 0

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_log = True  # the steps since the last log (the Trainer skips it if none)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            steps = state.global_step - self.logged_step
            self.logged_step = state.global_step
            self.loss_sum += logs["loss"] * steps
            self.loss_steps += steps
            self.metrics["train"] = {
                "loss": self.loss_sum / max(self.loss_steps, 1),
                "learning_rate": logs["learning_rate"],
            }

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        for split in EVAL_SPLITS:
            prefix = f"eval_{split}_"
            if metrics and any(key.startswith(prefix) for key in metrics):
                self.metrics[split] = {
                    key.removeprefix(prefix): value
                    for key, value in metrics.items()
                    if key.startswith(prefix)
                }

    def on_save(self, args, state, control, **kwargs):
        checkpoint_dir = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.on_epoch(round(state.epoch or 0), self.metrics, checkpoint_dir)
        self.metrics = {}


class _Progress(TrainerCallback):
    """Hands each training-loss log over as a ``TrainLog``: where the epoch stands, the
    throughput since the previous log and the epoch's remaining time."""

    def __init__(self, on_log: LogHandler, train_examples: int) -> None:
        self.on_log_handler = on_log
        self.train_examples = train_examples
        self.steps_in_epoch = 1
        self.examples_per_step = 1
        self.epoch_started = self.logged_at = time.monotonic()
        self.epoch_first_step = self.logged_step = 0

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        accumulation = args.gradient_accumulation_steps
        self.steps_in_epoch = max(math.ceil(len(train_dataloader) / accumulation), 1)
        self.examples_per_step = args.train_batch_size * accumulation * args.world_size

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.epoch_started = self.logged_at = time.monotonic()
        self.epoch_first_step = self.logged_step = state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        now = time.monotonic()
        epoch_index, step = divmod(state.global_step - 1, self.steps_in_epoch)
        step += 1
        since = step - (state.global_step - self.logged_step)  # the previous log's step
        examples = self._examples_after(step) - self._examples_after(since)
        done = state.global_step - self.epoch_first_step
        pace = (now - self.epoch_started) / max(done, 1)  # seconds per step this epoch
        self.on_log_handler(
            TrainLog(
                global_step=state.global_step,
                epoch=epoch_index + 1,
                step=step,
                steps_in_epoch=self.steps_in_epoch,
                loss=float(logs["loss"]),
                learning_rate=float(logs["learning_rate"]),
                examples_per_s=examples / max(now - self.logged_at, 1e-9),
                eta_s=(self.steps_in_epoch - step) * pace,
            )
        )
        self.logged_at, self.logged_step = now, state.global_step

    def _examples_after(self, steps: int) -> int:
        """Examples of an epoch seen after ``steps`` optimizer steps (only its last batch is
        short: batches are cut in order from the sampler's index order)."""
        return min(max(steps, 0) * self.examples_per_step, self.train_examples)
