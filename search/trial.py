"""``python -m search.trial --config FILE [--set key=value ...]``: one training, no search.

Reads a sweep config (every section is checked; the search sections are unused) or a report's
``best_config.yaml``, and runs the base settings as one Tune trial on a local loopback Ray,
tracked in MLflow like a sweep's trial (a run of its own, no sweep's parent run). Its results go
to ``<storage.path>/trials/<experiment.name>-<start time>/``, apart from every sweep.
Exit codes: 0 done, 1 the trial failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from search.config import TRAININGS_FOLDER, load_sweep_config
from trainable.common.cli import run_cli
from trainable.common.redact import print_error
from trainable.common.yaml_config import add_config_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m search.trial", description="Run one training (one trial) locally."
    )
    add_config_arguments(parser, "train.num_train_epochs=2")
    args = parser.parse_args(argv)
    return run_cli(
        lambda: _train(args.config, args.set), interrupted="the training stopped before its end"
    )


def _train(config: str, overrides: list[str]) -> int:
    settings = load_sweep_config(config, overrides).trial_sections()
    from trainable.hub import check_model_source

    check_model_source(settings.model)  # before the heavy imports and the data: seconds
    from search import ray_tune  # Ray, torch and transformers load only from here on
    from trainable.data import prepare_data_verbose
    from trainable.train import HEADLINE, METRIC, train_fn

    data = prepare_data_verbose(settings)
    cpus = os.cpu_count() or 1
    ray_tune.start_ray(num_cpus=cpus)
    tuner = ray_tune.build_tuner(
        train_fn,
        {"settings": settings, "data": data},
        {"cpu": cpus},
        name=f"{settings.experiment.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        storage_path=settings.storage.path / TRAININGS_FOLDER,
        metric=METRIC,
    )
    result = ray_tune.fit(tuner, trials=1)[0]
    if result.error is not None:
        print_error(f"the trial failed: {result.error}")
        return 1
    columns = ["epoch", *HEADLINE, *(f"dev_{name}" for name in HEADLINE)]
    frame = result.metrics_dataframe[columns]
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
