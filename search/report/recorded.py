"""What the report takes from MLflow to re-train a trial: its criterion and training values only.

A trial's ``trial_settings.yaml`` artifact can be rewritten by anyone with EDIT on the experiment.
Its paths (data, prepared-data cache, storage), tracking URI and model folder would make the
report read planted files or send the user's MLflow credentials elsewhere. So confirmation runs
and ``best_config.yaml`` take ``criterion``, ``train`` and ``experiment.seed`` (the selection split
follows it) from MLflow, and everything else from the report's own config. Without a config
(``--tracking-uri`` flags), the data and model values that shape the results come from MLflow,
but every location is this machine's default, and a model given as a local folder is refused.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from search.tracking import download_artifact
from trainable.common.settings import TrialSettings
from trainable.common.yaml_config import ConfigError, validate_config

SETTINGS_ARTIFACT = "trial_settings.yaml"


def recorded_settings(uri: str, run_id: str) -> TrialSettings:
    """The settings a trial logged (validated, so a tampered file fails like a bad config)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = download_artifact(uri, run_id, SETTINGS_ARTIFACT, scratch)
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return validate_config(data, TrialSettings, source=f"MLflow run {run_id} {SETTINGS_ARTIFACT}")


def retrain_settings(
    recorded: TrialSettings, local: TrialSettings | None, *, trains: bool = False
) -> TrialSettings:
    """The trial's criterion and training values on this machine's settings (``local``, the
    report's config; ``None``: the recorded data and model values at default locations).
    ``trains``: the settings will train here (confirmation), not only be written down."""
    if local is not None:
        base = _check_same_setup(recorded, local)
    else:
        base = _located_here(recorded, trains)
    experiment = base.experiment.model_copy(update={"seed": recorded.experiment.seed})
    return base.model_copy(
        update={"criterion": recorded.criterion, "train": recorded.train, "experiment": experiment}
    )


def _check_same_setup(recorded: TrialSettings, local: TrialSettings) -> TrialSettings:
    """Refuse a config whose data or model differ from the sweep's: its confirmation runs would
    not re-train what the sweep ran."""
    differing = []
    for section, (ours, theirs) in _setup(local, recorded).items():
        differing += [
            f"{section}.{key}: sweep {value!r}, config {ours.get(key)!r}"
            for key, value in theirs.items()
            if ours.get(key) != value
        ]
    if differing:
        raise ConfigError(
            "search.report",
            [
                f"the config is not the sweep's: {'; '.join(differing[:4])}; report with the "
                "config the sweep ran"
            ],
        )
    return local


def _setup(local: TrialSettings, recorded: TrialSettings) -> dict[str, tuple[dict, dict]]:
    """The values that shape a trial's result besides criterion and training: (ours, theirs)."""
    places = {"dir", "cache_dir"}
    return {
        "data": (
            local.data.model_dump(mode="json", exclude=places),
            recorded.data.model_dump(mode="json", exclude=places),
        ),
        "model": (  # a model folder is logged portable: compare it so on both sides
            local.portable().model.model_dump(mode="json"),
            recorded.portable().model.model_dump(mode="json"),
        ),
    }


def _located_here(recorded: TrialSettings, trains: bool) -> TrialSettings:
    """The recorded data and model values, every location reset to this machine's default. A
    pretrained model named only by MLflow is never loaded: loading runs whatever its files
    make the loader run, so training one needs the user's own --config to name it."""
    model = recorded.model.name_or_path
    if trains and not recorded.model.is_scratch:
        raise ConfigError(
            "search.report",
            [
                f"the sweep's model {model!r} is named by MLflow, and the report trains only a "
                "model its --config names; give the sweep's --config, or --confirm 0"
            ],
        )
    local_folder = model.startswith(("/", ".", "~", "<sha256:")) or Path(model).exists()
    if not recorded.model.is_scratch and local_folder:
        raise ConfigError(
            "search.report",
            [
                f"the sweep's model is a local folder ({model!r}); give the sweep's --config to "
                "re-train it, or --confirm 0"
            ],
        )
    for name in (recorded.data.train_file, recorded.data.dev_file, recorded.data.relation_file):
        if Path(name).name != name:
            raise ConfigError("search.report", [f"data file {name!r} is not a bare file name"])
    data = recorded.data.model_copy(update={"dir": None, "cache_dir": None})
    return TrialSettings(experiment=recorded.experiment, data=data, model=recorded.model)
