"""Search efficiency: does TPE + ASHA find the best loss setup with less compute than random?

    python bench/search_efficiency.py [--quick] [--seeds N] [--out results/search_efficiency]

Each strategy (``bench.efficiency_runs.STRATEGIES``: random search and TPE, each with and
without ASHA) runs once per search seed on the same cheap but real objective: the quickstart's
sweep (its space, warm starts, two 1-CPU trials at a time, ``train_fn`` on real KLUE) with a
tiny scratch encoder on a slice of KLUE train, an epoch in seconds. Every run gets the same
compute, counted in trial-epochs: the epochs a sweep of ``sweep_size`` trials affords without
early stopping; a strategy that cuts trials early spends what it saves on more trials. The
training seed is the same for every trial, so a configuration always scores the same: what
differs between runs is the search (and, two trials at a time, the order results arrive in).

Writes to ``--out``: ``runs.json`` (every run's scores, in arrival order; a rerun with the
same setup continues from it, with more or fewer ``--seeds``), ``table.md`` (the table and
the paired comparisons) and ``search_efficiency.png``. ``--quick`` (2 seeds, a 3-trial-epoch
budget, a smaller slice: plumbing, not a measurement) runs in a few minutes; the test suite
runs it. Needs KLUE_RE_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

# Run as `python bench/search_efficiency.py`: put the repository root first on sys.path.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench import efficiency_report, efficiency_stats  # noqa: E402
from bench.efficiency_runs import DEFAULT, STRATEGIES, Run, Strategy, run_strategy  # noqa: E402
from search import ray_tune  # noqa: E402
from search.config import SweepConfig, load_sweep_config  # noqa: E402
from trainable.data import prepare_data  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
TINY_ENCODER = [
    "model.scratch.num_layers=1", "model.scratch.hidden_size=64", "model.scratch.num_heads=2",
    "model.scratch.intermediate_size=128", "model.scratch.vocab_size=2000",
]  # fmt: skip


@dataclass(frozen=True)
class Setup:
    """What one bench run measures; ``runs.json`` records it, and a rerun must match it."""

    seeds: int
    sweep_size: int  # search.num_samples: what sizes TPE's random start
    max_epochs: int  # trials sample 1..max_epochs (ASHA's max_t)
    train_examples: int  # stratified slice of KLUE train; a fifth is the selection split

    @property
    def budget(self) -> int:
        """Trial-epochs per run: ``sweep_size`` trials of the mean sampled epoch count."""
        return round(self.sweep_size * (1 + self.max_epochs) / 2)


FULL = Setup(seeds=6, sweep_size=10, max_epochs=3, train_examples=1500)
# --quick is plumbing, not a measurement: its runs' time goes mostly to starting the trial
# processes, so the slice is as small as still trains and scores every strategy.
QUICK = Setup(seeds=2, sweep_size=2, max_epochs=2, train_examples=300)


def base_overrides(setup: Setup, workdir: Path) -> list[str]:
    """The quickstart sweep made cheap: a tiny encoder, a slice of KLUE, no MLflow.

    The tiny encoder learns at larger steps than the quickstart's: with its learning rates
    most trials still predict no relation after an epoch (micro-F1 0), a tie ASHA never cuts
    (it stops a trial only strictly below the rung's cutoff). Batches of 16 and learning rates
    of 1e-3..1e-2 make the first epoch tell trials apart, as it does for a pretrained encoder."""
    return [
        *TINY_ENCODER,
        f"data.train_subsample={setup.train_examples}", "data.holdout_fraction=0.2",
        "data.dev_subsample=100", "data.max_length=96", f"data.cache_dir={workdir / 'cache'}",
        "train.batch_size=16", "search.space.learning_rate.float=[1.0e-3, 1.0e-2]",
        "train.log_every_steps=1000", "tracking.uri=null",
        f"storage.path={workdir / 'ray_results'}", f"search.num_samples={setup.sweep_size}",
        f"search.space.num_train_epochs.int=[1, {setup.max_epochs}]",
        "search.max_concurrent=2", "resources.cpu=1",
    ]  # fmt: skip


def run_config(setup: Setup, workdir: Path, strategy: Strategy, seed: int) -> SweepConfig:
    slug = re.sub(r"[^a-z0-9]+", "-", strategy.name.lower()).strip("-")
    overrides = [
        *base_overrides(setup, workdir), *strategy.overrides(),
        f"search.seed={seed}", f"experiment.name=efficiency-{slug}-seed{seed}",
    ]  # fmt: skip
    return load_sweep_config(QUICKSTART, overrides)


def load_runs(path: Path, setup: Setup) -> list[Run]:
    """The runs already done with this setup, whatever its seed count (none when ``path`` does
    not exist): a bench stopped early, or rerun with more or fewer seeds, reuses them."""
    if not path.is_file():
        return []
    saved = json.loads(path.read_text(encoding="utf-8"))
    if _without_seeds(saved["setup"]) != _without_seeds(asdict(setup)):
        sys.exit(f"{path} holds runs of another setup ({saved['setup']}); choose another --out")
    return [Run(**run) for run in saved["runs"]]


def _without_seeds(setup: dict) -> dict:
    return {key: value for key, value in setup.items() if key != "seeds"}


def save_runs(path: Path, setup: Setup, runs: list[Run]) -> None:
    payload = {"setup": asdict(setup), "budget": setup.budget, "runs": [r.as_json() for r in runs]}
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")


def run_all(setup: Setup, workdir: Path) -> list[Run]:
    """Every strategy for every seed, seed by seed (a stopped bench has whole seeds)."""
    path = workdir / "runs.json"
    runs = load_runs(path, setup)
    done = {(run.strategy, run.seed) for run in runs}
    todo = [
        (s, seed) for seed in range(setup.seeds) for s in STRATEGIES if (s.name, seed) not in done
    ]
    if todo:
        settings = run_config(setup, workdir, STRATEGIES[0], seed=0).sweep_trial_settings()
        shared = {"settings": settings, "data": prepare_data(settings), "hooks": []}
        ray_tune.start_ray(num_cpus=os.cpu_count())
    for strategy, seed in todo:  # settings are the same for every run: only the search differs
        run = run_strategy(
            strategy, run_config(setup, workdir, strategy, seed), shared, setup.budget
        )
        runs.append(run)
        save_runs(path, setup, runs)
        print(
            f"efficiency: {strategy.name}, seed {seed}: best {max(run.scores):.2f} after "
            f"{len(run.scores)} trial-epochs ({run.trials} trials, {run.wall_s:.0f} s)",
            flush=True,
        )
    return [run for run in runs if run.seed < setup.seeds]


def write_report(runs: list[Run], setup: Setup, workdir: Path) -> str:
    budget = setup.budget
    overall, summaries = efficiency_stats.summarize(runs, budget, reference="random")
    lines = [efficiency_report.table(overall, summaries, budget), ""]
    lines += [
        efficiency_report.comparison(efficiency_stats.compare_at(runs, b), b)
        for b in efficiency_stats.grid(budget)
    ]
    lines += ["", _saving(summaries, budget)]
    text = "\n".join(lines) + "\n"
    (workdir / "table.md").write_text(text, encoding="utf-8")
    efficiency_report.plot(runs, budget, overall, workdir / "search_efficiency.png")
    return text


def _saving(summaries: list[efficiency_stats.StrategySummary], budget: int) -> str:
    """Trial-epochs each strategy's median needs to match random search's median at the end."""
    parts = [
        f"{s.strategy} {'never' if s.matches_reference is None else s.matches_reference}"
        for s in summaries
    ]
    return (
        f"Trial-epochs until the median run matches random search's median after {budget} "
        f"(the default is {DEFAULT}): " + ", ".join(parts)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, tiny budget (the test)")
    parser.add_argument("--seeds", type=int, help="search seeds per strategy")
    parser.add_argument("--out", type=Path, default=Path("results/search_efficiency"))
    args = parser.parse_args()
    setup = QUICK if args.quick else FULL
    if args.seeds:
        setup = replace(setup, seeds=args.seeds)
    workdir = args.out.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    runs = run_all(setup, workdir)
    print(write_report(runs, setup, workdir), flush=True)
    print(f"written: {workdir / 'table.md'}, {workdir / 'search_efficiency.png'}")


if __name__ == "__main__":
    main()
