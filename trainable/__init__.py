"""What one trial does: prepare KLUE RE, fine-tune with a criterion, evaluate, report
(``train.train_fn``, the Ray Tune trainable); ``common/`` holds what the driver shares with it.

Import from the submodules (``trainable.train.train_fn``, ``trainable.metrics.klue_re_metrics``);
this package file imports nothing of ours, so that importing one of them does not import the rest.
"""

import os

# MLflow 3 reports usage to its vendor from a background thread unless told not to. Our processes
# talk to their own tracking server and nothing else (a cluster may have no route out), and every
# one of them (driver, report, trial worker) imports this package before MLflow: the default is set
# here. MLFLOW_DISABLE_TELEMETRY=false opts back in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

__all__: list[str] = []
