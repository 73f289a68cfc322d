"""Text for people: Markdown tables and cells (the sweep's summary, the report, the comparison)
and one-line error texts."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

import pandas as pd

# "<" that opens an HTML tag, comment or declaration in Markdown ("p < 0.05" stays as written).
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")


def to_markdown(frame: pd.DataFrame, title: str, notes: list[str] = ()) -> str:
    lines = [f"# {plain(title)}", ""]
    lines.append(markdown_table(frame) if not frame.empty else "No trial reported a score.")
    lines += ["", *map(plain, notes)]
    return "\n".join(lines).rstrip() + "\n"


def markdown_table(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(cell(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def plain(text: Any) -> str:
    """``text`` as Markdown shows it, never as HTML: run names, errors and tags come from MLflow,
    which anyone with EDIT on the experiment can write, and Markdown renders raw HTML."""
    return _HTML_START.sub("&lt;", str(text))


def link_text(text: Any) -> str:
    """``plain`` text inside ``[...]`` (a link's or an image's): brackets and backslashes are
    escaped and lines joined, so a caption built from MLflow values cannot close the brackets
    and choose its own link."""
    escaped = re.sub(r"([\\\[\]])", r"\\\1", str(text))
    return plain(escaped).replace("\r", " ").replace("\n", " ")


def cell(value: Any) -> str:
    """A table cell: ``short``'s text, ``plain``, on one line, its pipes escaped."""
    text = plain(short(value)).replace("\r", " ").replace("\n", " ")
    return text.replace("|", "\\|")


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def short(value: Any) -> str:
    """The one rounding rule of every table and line: blanks for missing values, integers as
    integers, 2 decimals from 1 up (scores are 0-100), 3 significant digits below 1 (so
    ``smoothing`` 0.115 and a learning rate 0.00156 keep what tells them apart)."""
    if missing(value):
        return ""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}" if value == 0 or abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def error_line(error: BaseException | None) -> str:
    """The last line of an error (a trial's error from Ray ends with its message), at most 300
    characters: what a table or a note shows."""
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[-1][:300] if text else "trial errored"
