"""Report documents: ``report.md`` (figures as PNG files beside it) and a self-contained
``report.html`` (figures embedded as base64), from one ``ReportContent``."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from search.markdown import link_text, markdown_table, plain, short

NO_IMPORTANCE = "Too few scored trials to say which parameters mattered."


@dataclass
class ReportContent:
    title: str
    winner_line: str
    winner_details: dict[str, Any]
    criteria: pd.DataFrame
    importance: pd.DataFrame
    trials: pd.DataFrame
    compute: dict[str, Any]
    figures: dict[str, tuple[str, bytes]]  # file stem -> (caption, PNG)
    confirmation: pd.DataFrame | None = None
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_markdown(content: ReportContent, folder: Path) -> Path:
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    lines = [f"# {plain(content.title)}", "", f"**{plain(content.winner_line)}**", ""]
    lines += [f"- {key}: {plain(short(value))}" for key, value in content.winner_details.items()]
    lines += ["", "## Criteria", "", markdown_table(content.criteria), ""]
    lines += ["## What mattered: parameter importance", "", _importance_md(content.importance), ""]
    if content.confirmation is not None:
        lines += ["## Confirmation over seeds", "", markdown_table(content.confirmation), ""]
        lines += [f"- {plain(verdict)}" for verdict in content.verdicts] + [""]
    lines += ["## Figures", ""]
    for stem, (caption, png) in content.figures.items():
        (folder / "plots" / f"{stem}.png").write_bytes(png)
        lines += [f"![{link_text(caption)}](plots/{stem}.png)", ""]
    lines += ["## Compute", ""]
    lines += [
        f"- {key.replace('_', ' ')}: {short(value)}" for key, value in content.compute.items()
    ]
    lines += ["", "## Trials", "", markdown_table(content.trials), "", *map(plain, content.notes)]
    path = folder / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def write_html(content: ReportContent, folder: Path) -> Path:
    template = jinja2.Environment(autoescape=True).from_string(_TEMPLATE)
    figures = [
        (stem, caption, base64.b64encode(png).decode("ascii"))
        for stem, (caption, png) in content.figures.items()
    ]
    html = template.render(
        content=content,
        criteria=_html_table(content.criteria),
        importance=_html_table(content.importance) if not content.importance.empty else None,
        trials=_html_table(content.trials),
        confirmation=_html_table(content.confirmation)
        if content.confirmation is not None
        else None,
        figures=figures,
        short=short,
        no_importance=NO_IMPORTANCE,
    )
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _importance_md(table: pd.DataFrame) -> str:
    return markdown_table(table) if not table.empty else NO_IMPORTANCE


def _html_table(frame: pd.DataFrame) -> str:
    shown = frame.map(short) if not frame.empty else frame
    return shown.to_html(index=False, border=0, classes="table", escape=True)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ content.title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.winner { font-size: 1.1rem; background: #eef5ee; padding: .75rem 1rem; border-radius: 6px; }
.table { border-collapse: collapse; font-size: .85rem; } .table td, .table th { padding: .2rem .6rem;
 border-bottom: 1px solid #ddd; text-align: right; } figure { display: inline-block; margin: .5rem; }
figcaption { font-size: .8rem; color: #555; } .notes { font-size: .85rem; color: #555; }
img { max-width: 100%; height: auto; } .table { max-width: 100%; } .table td { overflow-wrap: anywhere; }
</style></head><body>
<h1>{{ content.title }}</h1>
<p class="winner" id="winner">{{ content.winner_line }}</p>
<ul>{% for key, value in content.winner_details.items() %}<li>{{ key }}: {{ short(value) }}</li>{% endfor %}</ul>
<h2>Criteria</h2>{{ criteria | safe }}
<h2>What mattered: parameter importance</h2>
{% if importance is not none %}{{ importance | safe }}{% else %}<p>{{ no_importance }}</p>{% endif %}
{% if confirmation is not none %}<h2>Confirmation over seeds</h2>{{ confirmation | safe }}
<ul id="verdicts">{% for verdict in content.verdicts %}<li>{{ verdict }}</li>{% endfor %}</ul>{% endif %}
<h2>Figures</h2>
{% for stem, caption, data in figures %}<figure><img id="plot-{{ stem }}" alt="{{ caption }}"
 src="data:image/png;base64,{{ data }}"><figcaption>{{ caption }}</figcaption></figure>{% endfor %}
<h2>Compute</h2><ul>{% for key, value in content.compute.items() %}<li>{{ key.replace('_', ' ') }}: {{ short(value) }}</li>{% endfor %}</ul>
<h2>Trials</h2>{{ trials | safe }}
<div class="notes">{% for note in content.notes %}<p>{{ note }}</p>{% endfor %}</div>
</body></html>
"""
