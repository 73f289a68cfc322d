"""The report's figures as PNG bytes (matplotlib, Agg). A figure without data says so in words,
so every figure in the report is a real image either way."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from losses import list_criteria
from search.tracking import SweepRecord
from trainable.common.directions import best_first

LOG_SCALED = ("learning_rate",)  # sampled on a log scale: shown on one
# One colour per criterion of the registry, the same in every figure and every report.
COLORS = dict(zip(list_criteria(), plt.get_cmap("tab10").colors, strict=False))


def _text_as_written(draw: Callable[..., bytes]) -> Callable[..., bytes]:
    """Labels come from MLflow (trial ids, relation names): ``$...$`` in one must stay text,
    not become mathtext (a bad formula raises and stops the report) or LaTeX."""

    @functools.wraps(draw)
    def drawn(*args, **kwargs) -> bytes:
        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return draw(*args, **kwargs)

    return drawn


@_text_as_written
def score_vs_parameter(trials: pd.DataFrame, parameter: str, metric: str) -> bytes:
    """Selection (dots) and dev (crosses) score of every trial that sampled ``parameter``, by
    criterion."""
    subset = trials[trials[metric].notna()]
    if parameter in subset:
        subset = subset[pd.to_numeric(subset[parameter], errors="coerce").notna()]
    figure, axes = plt.subplots(figsize=(5.5, 3.6))
    if subset.empty or parameter not in subset:
        return _empty(figure, axes, f"no scored trials with {parameter} in this sweep")
    for criterion, group in subset.groupby("criterion"):
        color = COLORS.get(criterion)
        values = group[parameter].astype(float)
        axes.scatter(values, group[metric], label=f"{criterion} selection", color=color)
        axes.scatter(
            values, group[f"dev_{metric}"], label=f"{criterion} dev", marker="x", color=color
        )
    axes.set(xlabel=parameter, ylabel=metric, title=f"{metric} vs {parameter}")
    if parameter in LOG_SCALED:
        axes.set_xscale("log")
    axes.legend(fontsize=8)
    return _png(figure)


@_text_as_written
def score_vs_epochs(trials: pd.DataFrame, metric: str) -> bytes:
    """Each trial's score against the epochs it ran, by criterion."""
    scored = trials[trials[metric].notna()]
    figure, axes = plt.subplots(figsize=(5.5, 3.6))
    if scored.empty:
        return _empty(figure, axes, "no scored trials")
    for criterion, group in scored.groupby("criterion"):
        axes.scatter(
            group["epochs_run"], group[metric], label=criterion, color=COLORS.get(criterion)
        )
    axes.set(xlabel="epochs run", ylabel=metric, title=f"{metric} vs epochs")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=8)
    return _png(figure)


@_text_as_written
def learning_curves(sweep: SweepRecord, trials: pd.DataFrame, metric: str, top: int = 5) -> bytes:
    """Per-epoch selection (solid) and dev (dashed) scores of the ``top`` trials."""
    best = best_first(trials.dropna(subset=[metric]), metric).head(top)
    histories = {trial.run_id: trial.history for trial in sweep.trials}
    figure, axes = plt.subplots(figsize=(5.5, 3.6))
    if best.empty:
        return _empty(figure, axes, "no scored trials")
    for _, row in best.iterrows():
        history = histories[row["run_id"]]
        color = COLORS.get(row["criterion"])
        label = f"{row['criterion']} {row['trial_id']}"
        for key, style in ((metric, "-"), (f"dev_{metric}", "--")):
            points = sorted(history.get(key, {}).items())
            if points:
                epochs, values = zip(*points, strict=True)
                axes.plot(
                    epochs,
                    values,
                    style,
                    marker="o",
                    color=color,
                    label=label if style == "-" else None,
                )
    axes.set(xlabel="epoch", ylabel=metric, title=f"learning curves, top {len(best)} (dashed: dev)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=7)
    return _png(figure)


@_text_as_written
def per_class_f1(per_class: dict[str, pd.Series]) -> bytes:
    """Dev F1 per relation of the trials compared (e.g. the winner and the best ``ce``): where do
    rare relations gain?"""
    figure, axes = plt.subplots(figsize=(7.5, 8.5))
    if not per_class:
        return _empty(figure, axes, "no per-class F1 artifacts found")
    frame = pd.DataFrame(per_class)
    height = 0.8 / len(frame.columns)
    palette = plt.get_cmap("tab10").colors
    for index, label in enumerate(frame.columns):
        positions = [i + index * height for i in range(len(frame))]
        axes.barh(positions, frame[label], height=height, label=label, color=palette[index])
    axes.set_yticks([i + 0.4 - height / 2 for i in range(len(frame))], frame.index, fontsize=7)
    axes.invert_yaxis()
    axes.set(xlabel="dev F1", title="per-relation dev F1")
    axes.legend(fontsize=8)
    return _png(figure)


def axes_png(axes, empty_message: str) -> bytes:
    """A figure another library drew (Optuna's plots return matplotlib axes) as PNG bytes."""
    if axes is None:
        figure, blank = plt.subplots(figsize=(5.5, 3.6))
        return _empty(figure, blank, empty_message)
    figure = axes.get_figure()
    figure.set_size_inches(9, 4.5)
    return _png(figure)


def _empty(figure, axes, message: str) -> bytes:
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11)
    axes.set_axis_off()
    return _png(figure)


def _png(figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
