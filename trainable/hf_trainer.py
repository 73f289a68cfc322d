"""The one adapter around HF ``Trainer``: arguments, metrics hook and the per-epoch callback.

The Trainer owns the loop (we write none): dynamic padding (``DataCollatorWithPadding``),
length-grouped batches, mixed precision on GPU, per-epoch evaluation of the selection and dev
splits, one local checkpoint per epoch (``save_total_limit=1``). After each epoch's checkpoint is
written, ``on_epoch(epoch, metrics_by_split, checkpoint_dir)`` is called: the trial reports there.
"""

from __future__ import annotations

from collections.abc import Callable
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
from trainable.metrics import klue_re_metrics

EVAL_SPLITS = ("selection", "dev")
EpochHandler = Callable[[int, dict[str, dict[str, Any]], Path], None]


def build_trainer(
    model: torch.nn.Module,
    data: PreparedData,
    compute_loss: Callable[..., torch.Tensor],
    settings: TrainSettings,
    *,
    seed: int,
    output_dir: Path,
    on_epoch: EpochHandler,
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
    # Our callback prints one line per epoch; tqdm bars and raw log dicts are noise under Ray.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_EpochReporter(on_epoch))
    trainer.add_callback(_StopAfter(settings.num_train_epochs))
    return trainer


def resolve_precision(precision: str) -> str:
    """``auto`` → bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    if precision != "auto":
        return precision
    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _arguments(settings: TrainSettings, seed: int, output_dir: Path) -> TrainingArguments:
    precision = resolve_precision(settings.precision)
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
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        logging_strategy="epoch",
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
    """Collects each split's evaluation, then hands it over once the epoch's checkpoint exists."""

    def __init__(self, on_epoch: EpochHandler) -> None:
        self.on_epoch = on_epoch
        self.metrics: dict[str, dict[str, Any]] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.metrics["train"] = {"loss": logs["loss"], "learning_rate": logs["learning_rate"]}

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
