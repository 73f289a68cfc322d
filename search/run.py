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
from search.config import load_sweep_config
from trainable.common.redact import print_error
from trainable.common.yaml_config import ConfigError, add_config_arguments, dump_yaml
from trainable.hooks import TrialHook


def main(argv: list[str] | None = None, hooks: Sequence[TrialHook] = ()) -> int:
    """The CLI; ``hooks`` reach every trial (tests inject faults through them)."""
    args = _parse_args(argv)
    try:
        config = load_sweep_config(args.config, args.set)
    except ConfigError as error:
        print_error(error)
        return 2
    if args.dry_run:
        print(dump_yaml(config), end="")
        epochs = config.max_epochs()
        print(f"# search space ({config.search.num_samples} trials, up to {epochs} epochs):")
        for line in search_space.describe(config.search.space).splitlines():
            print(f"#{line}")  # comments: the output stays a config that loads as it is
        return 0

    from trainable.hub import ModelLoadError, check_model_source

    try:  # before the heavy imports and the data: an unreachable hub costs seconds, not a minute
        check_model_source(config.model)
    except ModelLoadError as error:
        print_error(error)
        return 2

    from search.driver import run_sweep  # Ray, torch and transformers load only from here on
    from trainable.common.ray_tune import FitInterrupted
    from trainable.common.tracking import TrackingError
    from trainable.records import DataError

    try:
        summary = run_sweep(config, resume=args.resume, hooks=hooks)
    except (ConfigError, DataError, ModelLoadError, TrackingError) as error:
        print_error(error)
        return 2
    except (FitInterrupted, KeyboardInterrupt):
        print("interrupted: finished trials are kept; continue with --resume", file=sys.stderr)
        return 130
    print(summary)
    return 0


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
