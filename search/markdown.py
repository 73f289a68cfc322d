"""Text for people: Markdown tables and cells (the sweep's summary, the report, the comparison)
and one-line error texts."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def to_markdown(frame: pd.DataFrame, title: str, notes: list[str] = ()) -> str:
    lines = [f"# {title}", ""]
    lines.append(markdown_table(frame) if not frame.empty else "No trial reported a score.")
    lines += ["", *notes]
    return "\n".join(lines).rstrip() + "\n"


def markdown_table(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(short(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def short(value: Any) -> str:
    """A table cell: blanks for missing values, 2 decimals for scores, 4 digits for small."""
    if missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 else f"{value:.2f}"
    return str(value)


def error_line(error: BaseException | None) -> str:
    """The last line of an error (a trial's error from Ray ends with its message), at most 300
    characters: what a table or a note shows."""
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[-1][:300] if text else "trial errored"
