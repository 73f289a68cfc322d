"""``python -m search.run --config FILE [--set key=value ...] [--resume] [--dry-run]``.

A thin CLI: the config is loaded and checked first (every problem, one line each, before Ray
starts); ``--dry-run`` prints the resolved config and the search space without importing Ray;
otherwise a hub model is probed (``trainable.hub``, seconds) and ``search.driver.run_sweep``
runs or resumes the sweep and the summary is printed.
Exit codes: 0 done, 2 bad input (config, data, model, tracking), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from search import space as search_space
from search.config import SweepConfig, load_sweep_config
from trainable.common.cli import run_cli
from trainable.common.yaml_config import add_config_arguments, dump_yaml
from trainable.hooks import TrialHook

INTERRUPTED = "finished trials are kept; continue with --resume"


def main(argv: list[str] | None = None, hooks: Sequence[TrialHook] = ()) -> int:
    """The CLI; ``hooks`` reach every trial (tests inject faults through them)."""
    args = _parse_args(argv)
    return run_cli(lambda: _run(args, hooks), interrupted=INTERRUPTED)


def _run(args: argparse.Namespace, hooks: Sequence[TrialHook]) -> int:
    config = load_sweep_config(args.config, args.set)
    if args.dry_run:
        _print_dry_run(config)
        return 0
    from trainable.hub import check_model_source

    check_model_source(config.model)  # before the heavy imports and the data: seconds, not a minute
    from search.driver import run_sweep  # Ray, torch and transformers load only from here on

    print(run_sweep(config, resume=args.resume, hooks=hooks))
    return 0


def _print_dry_run(config: SweepConfig) -> None:
    """The resolved config, then the search space as comments: the output stays a config that
    loads as it is."""
    print(dump_yaml(config), end="")
    epochs = config.max_epochs()
    print(f"# search space ({config.search.num_samples} trials, up to {epochs} epochs):")
    for line in search_space.describe(config.search.space).splitlines():
        print(f"#{line}")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m search.run", description="Search the best training criterion for KLUE RE."
    )
    add_config_arguments(parser, "search.num_samples=4")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted sweep, or extend a finished one (--set search.num_samples=N)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved config and space, then exit"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
