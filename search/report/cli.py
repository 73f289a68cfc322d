"""``python -m search.report``: the best loss setup by micro-F1, the evidence, and how sure we are.

    python -m search.report --config configs/quickstart.yaml [--set key=value ...]
    python -m search.report --tracking-uri URI (--experiment NAME | --run-id PARENT_RUN_ID)
    options: [--scope best|last] [--out DIR] [--confirm K] [--looks N,N,... | --seeds N]
             [--margin M] [--no-register]

Writes to ``--out`` (default ``reports/<sweep name>/``) what ``search.report.build`` lists.
Exit codes: 0 done, 2 bad input or no usable sweep, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from search.config import load_sweep_config, looks_problem
from search.report.build import ReportRequest, build_report
from search.tracking import find_sweep_run
from trainable.common.cli import run_cli
from trainable.common.settings import check_tracking_uri
from trainable.common.tracking.client import probe_store
from trainable.common.yaml_config import ConfigError, add_config_arguments

INTERRUPTED = (
    "finished confirmation seeds are kept in MLflow; run the same report again to train only "
    "the rest"
)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return run_cli(lambda: _report(args), interrupted=INTERRUPTED)


def _report(args: argparse.Namespace) -> int:
    request = _request(args)
    report = build_report(request, Path(args.out) if args.out else None)
    if "ray" in sys.modules:  # the confirmation trained: Ray's buffered logs come out now
        from search import ray_tune

        ray_tune.stop_ray()
    folder = report.folder
    print((folder / "report.md").read_text(encoding="utf-8").split("\n## Figures")[0])
    written = ["report.html", "report.md", "trials.csv"]
    written += ["confirmation.csv"] if request.confirm_top_k else []
    print(f"report written to {folder}/ ({', '.join([*written, 'best_config.yaml'])})")
    print(report.model_line)
    return 0


def _request(args: argparse.Namespace) -> ReportRequest:
    _check_confirm_flags(args)
    if args.config:
        config = load_sweep_config(args.config, args.set)
        if not config.tracking.uri:
            raise ConfigError(args.config, ["tracking.uri: the report reads the sweep from MLflow"])
        probe_store(config.tracking.uri, "tracking.uri")
        report = config.report
        return ReportRequest(
            tracking_uri=config.tracking.uri,
            parent_run_id=find_sweep_run(
                config.tracking.uri, config.tracking.experiment, config.experiment.name, args.run_id
            ),
            metric=config.search.metric,
            scope=args.scope or report.scope,
            max_t=config.max_epochs(),
            confirm_top_k=report.confirm_top_k if args.confirm is None else args.confirm,
            looks=_looks(args) or tuple(report.looks),
            margin=args.margin or report.margin,
            baseline=report.baseline,
            resources={"cpu": config.resources.cpu, "gpu": config.resources.gpu},
            storage_path=config.storage.path,
            max_concurrent=config.search.max_concurrent,
            settings=config.sweep_trial_settings(),
            register=not args.no_register,
            registered_model=report.registered_model,
        )
    if not args.tracking_uri or not (args.experiment or args.run_id):
        raise ConfigError(
            "search.report", ["give --config, or --tracking-uri with --experiment or --run-id"]
        )
    try:
        tracking_uri = check_tracking_uri(args.tracking_uri)
    except ValueError as error:
        raise ConfigError("search.report", [f"--tracking-uri: {error}"]) from None
    probe_store(tracking_uri, "--tracking-uri")
    return ReportRequest(
        tracking_uri=tracking_uri,
        parent_run_id=find_sweep_run(tracking_uri, args.experiment or "", None, args.run_id),
        scope=args.scope or "best",
        register=not args.no_register,
        **_confirm_flags(args),
    )


def _check_confirm_flags(args: argparse.Namespace) -> None:
    problems = []
    if args.seeds is not None and args.seeds < 2:
        problems.append(
            f"--seeds: {args.seeds} must be >= 2 (seeds per confirmed criterion; "
            "--confirm 0 reports without confirmation)"
        )
    if args.seeds is not None and args.looks is not None:
        problems.append("--seeds and --looks: give one (--seeds N is --looks N)")
    if args.looks is not None and looks_problem(args.looks):
        problems.append(f"--looks: {looks_problem(args.looks)}")
    if args.margin is not None and args.margin <= 0:
        problems.append(f"--margin: {args.margin} must be > 0 (metric units)")
    if args.confirm is not None and args.confirm < 0:
        problems.append(f"--confirm: {args.confirm} must be >= 0 (0: no confirmation)")
    if problems:
        raise ConfigError("search.report", problems)


def _confirm_flags(args: argparse.Namespace) -> dict:
    flags = {"confirm_top_k": args.confirm, "looks": _looks(args), "margin": args.margin}
    return {key: value for key, value in flags.items() if value is not None}


def _looks(args: argparse.Namespace) -> tuple[int, ...] | None:
    """``--seeds N`` is one look at N seeds (a fixed design); ``--looks 3,5,7`` several."""
    if args.seeds is not None:
        return (args.seeds,)
    return args.looks


def _seed_counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers"
        ) from None


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m search.report",
        description="The best loss setup of a sweep, the evidence, and how sure we are.",
    )
    add_config_arguments(parser, "report.confirm_top_k=2", required=False)
    parser.add_argument("--tracking-uri", help="MLflow URI (sqlite:///mlflow.db, http://host:5000)")
    parser.add_argument("--experiment", help="MLflow experiment: its newest sweep is reported")
    parser.add_argument("--run-id", help="the sweep's parent run id")
    parser.add_argument(
        "--scope", choices=("best", "last"), help="score trials at their best or last epoch"
    )
    parser.add_argument("--out", help="output folder (default reports/<sweep name>/)")
    parser.add_argument(
        "--confirm",
        type=int,
        metavar="K",
        help="re-train the top-K criteria (plus ce) over seeds; 0: single seed, not confirmed",
    )
    parser.add_argument(
        "--seeds", type=int, metavar="N", help="one look at N paired seeds (>= 2): a fixed design"
    )
    parser.add_argument(
        "--looks",
        type=_seed_counts,
        metavar="N,N,...",
        help="seed counts at which the confirmation decides (default: report.looks)",
    )
    parser.add_argument(
        "--margin", type=float, help="equivalence margin in metric units (default: report.margin)"
    )
    parser.add_argument(
        "--no-register",
        action="store_true",
        help="do not register the recommended criterion's model in the MLflow Model Registry",
    )
    return parser.parse_args(argv)
