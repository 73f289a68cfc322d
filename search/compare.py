"""``python -m search.compare --config FILE``: fixed loss setups compared over paired seeds.

    python -m search.compare --config configs/seed_question.yaml [--set key=value ...]

No search: each setup under ``setups`` (a criterion with its parameters, optionally train knobs)
is trained with the same seeds 1, 2, ... and raced on dev score look by look (``report.looks``,
``report.margin``) as the report's confirmation is (``search.confirmation.race``): a setup shown
worse gets no more seeds; each pair ends better, equivalent or undecided. The runs are MLflow
child runs of one parent run named ``experiment.name``; running the same config again re-uses
every finished seed. The verdict is printed and written to
``<storage.path>/<experiment.name>/comparison.md`` (also on the parent run)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pydantic import Field

from search.config import SweepConfig
from search.confirmation.tables import claim_lines, confirmation_table
from search.markdown import markdown_table
from trainable.common.cli import run_cli
from trainable.common.yaml_config import ConfigError, add_config_arguments, load_config

CONFIG_HASH_TAG = "compare.config_hash"


class CompareConfig(SweepConfig):
    """A sweep config whose search is replaced by a fixed list of setups."""

    setups: list[dict[str, Any]] = Field(
        default_factory=list,
        description="each {criterion: NAME, its parameters..., train knobs...}; one per criterion",
    )


def load_compare_config(path: str, overrides: list[str]) -> CompareConfig:
    """Load and check every setup against the criteria registry and the train schema."""
    config = load_config(path, CompareConfig, overrides)
    problems = [] if config.tracking.uri else ["tracking.uri: the comparison is kept in MLflow"]
    if len(config.setups) < 2:
        problems.append("setups: give at least two setups to compare")
    criteria = [setup.get("criterion") for setup in config.setups]
    if len(set(criteria)) != len(criteria):
        problems.append(f"setups: one setup per criterion, got {criteria}")
    base = config.sweep_trial_settings()
    for index, setup in enumerate(config.setups):
        try:
            base.with_sampled(setup)
        except ConfigError as error:
            problems += [f"setups[{index}]: {problem}" for problem in error.problems]
    if problems:
        raise ConfigError(path, problems)
    return config


def run_comparison(config: CompareConfig) -> str:
    """Train what MLflow lacks, rank on dev, return the verdict as Markdown."""
    from search.confirmation.training import (  # Ray and torch load from here on
        Candidate,
        Plan,
        RaceDesign,
        confirm,
    )
    from search.tracking import SweepRun, read_sweep
    from trainable.common.tracking import probe_server

    uri, metric = config.tracking.uri, config.search.metric
    probe_server(uri)
    sweep_run = SweepRun.open(
        config.tracking,
        config.experiment.name,
        {CONFIG_HASH_TAG: _identity(config)},
        run_id=_earlier_run(config),
    )
    base = config.sweep_trial_settings()
    candidates = [
        Candidate(
            setup["criterion"], _label(setup), f"setup:{_label(setup)}", base.with_sampled(setup)
        )
        for setup in config.setups
    ]
    plan = Plan(
        uri,
        {"cpu": config.resources.cpu, "gpu": config.resources.gpu},
        config.storage.path,
        config.search.max_concurrent,
        config.storage.path / config.experiment.name / "confirmed-models",
    )
    sweep = read_sweep(uri, sweep_run.run_id)
    design = RaceDesign(tuple(config.report.looks), config.report.margin)
    confirmation = confirm(candidates, design, metric, config.report.baseline, sweep, plan)
    labels = {c.criterion: c.label for c in candidates}
    result = confirmation.race  # two setups at least: never None here
    lines = [
        f"# Comparison — {config.experiment.name}",
        "",
        f"**{result.verdict(labels=labels)}**",
        "",
        markdown_table(confirmation_table(confirmation.scores, metric)),
        "",
        *(f"- {line}" for line in claim_lines(result, labels, metric)),
        "",
        f"Each run is scored on KLUE dev at its best selection-split epoch; "
        f"{confirmation.trained} run(s) trained now, the others re-used from MLflow.",
    ]
    text = "\n".join(lines) + "\n"
    folder = config.storage.path / config.experiment.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comparison.md").write_text(text, encoding="utf-8")
    confirmation.scores.to_csv(folder / "comparison.csv", index=False)
    sweep_run.finish(text)
    return text


def _earlier_run(config: CompareConfig) -> str | None:
    """The parent run of an earlier comparison with this very config, so its seeds are re-used."""
    from search.tracking import newest_run_tagged

    return newest_run_tagged(
        config.tracking.uri, config.tracking.experiment, CONFIG_HASH_TAG, _identity(config)
    )


def _identity(config: CompareConfig) -> str:
    """The config's hash with the race design left out: asking for more seeds later re-uses the
    seeds already trained."""
    report = config.report.model_copy(update={"looks": [], "margin": 0.0})
    return config.model_copy(update={"report": report}).config_hash()


def _label(setup: dict[str, Any]) -> str:
    params = ", ".join(f"{key}={value}" for key, value in setup.items() if key != "criterion")
    return f"{setup['criterion']} ({params})" if params else setup["criterion"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m search.compare",
        description="Compare fixed loss setups over paired seeds (no search).",
    )
    add_config_arguments(parser, "report.looks=[3,5]")
    args = parser.parse_args(argv)
    return run_cli(
        lambda: print(run_comparison(load_compare_config(args.config, args.set))),
        interrupted="finished seeds are kept in MLflow; run again to finish",
    )


if __name__ == "__main__":
    sys.exit(main())
