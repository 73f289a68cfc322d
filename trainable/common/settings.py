"""The trial's settings: one pydantic model per YAML section, each field with its unit or reason.

``TrialSettings`` is what one training run needs; the search service's config extends it with the
search space, resources and cluster sections. Criterion names and parameters are checked against
the ``losses`` registry, so YAML, ``--help``, errors and MLflow all spell them the same way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from trainable.common.redact import has_userinfo, portable_path
from trainable.common.yaml_config import CwdRelative, resolve_path, validate_config

KLUE_RE_DIR_ENV = "KLUE_RE_DIR"
SQLITE_PREFIX = "sqlite:///"
URI_CREDENTIALS = (
    "embeds a user name or password, which would be logged and sent wherever the URI goes; "
    "put them in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
)


_FOLDER_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_folder_name(name: str) -> str:
    """Refuse a name that would not stay one folder: names from configs and from MLflow tags
    become folders (results, reports) and MLflow queries, so ``/``, ``..`` or quotes in one
    would write elsewhere or change the query."""
    if not _FOLDER_NAME.fullmatch(name):
        raise ValueError(
            "may hold only letters, digits, '.', '_' and '-' (not first '.'): it names folders "
            "and MLflow runs"
        )
    return name


def check_tracking_uri(uri: str) -> str:
    """A tracking URI as every process of a run can use it (settings and flags alike): one with
    credentials is refused; ``sqlite:///mlflow.db`` means the working directory the command was
    started in, as for the ``mlflow`` CLI, and trials run elsewhere (Tune changes their working
    directory), so a relative SQLite path is made absolute now."""
    if has_userinfo(uri):
        raise ValueError(URI_CREDENTIALS)
    if uri.startswith(SQLITE_PREFIX) and not uri.startswith(SQLITE_PREFIX + "/"):
        return SQLITE_PREFIX + str(Path(uri.removeprefix(SQLITE_PREFIX)).resolve())
    return uri


def user_cache_dir() -> Path:
    """This project's folder in the user's cache: ``$XDG_CACHE_HOME`` when absolute (as the XDG
    spec asks), else ``~/.cache``; then ``klue-loss-sweep``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "klue-loss-sweep"


def download_dir() -> Path:
    """Where the official KLUE RE files are fetched when no folder is named."""
    return user_cache_dir() / "klue_re"


class Section(BaseModel):
    """A YAML section: unknown keys are errors (typos must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ExperimentSettings(Section):
    name: str = Field(
        "klue-re-loss-sweep",
        description="run/sweep name: MLflow and result folders ([A-Za-z0-9._-], not first '.')",
    )
    seed: int = Field(
        42, description="seeds Python, NumPy, torch, the holdout split and the Trainer"
    )

    _safe_name = field_validator("name")(check_folder_name)


class DataSettings(Section):
    dir: Path | None = Field(
        None,
        description=f"folder with the KLUE RE files; empty: ${KLUE_RE_DIR_ENV} (cwd-relative); "
        "neither: the official files, downloaded and verified into "
        "~/.cache/klue-loss-sweep/klue_re",
    )
    train_file: str = Field(
        "klue-re-v1.1_train.json",
        description="train split, inside dir (.json: KLUE; .csv: boostcamp)",
    )
    dev_file: str = Field("klue-re-v1.1_dev.json", description="KLUE dev, inside dir")
    relation_file: str = Field(
        "relation_list.json", description="KLUE's label order (id 0 = no_relation)"
    )
    selection: Literal["holdout", "dev"] = Field(
        "holdout",
        description="holdout: select on a stratified split of train; dev: on KLUE dev",
    )
    holdout_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="share of train held out")
    marker: Literal["typed_punct", "entity_punct", "none"] = Field(
        "typed_punct", description="entity markers in the input text (Zhou & Chen 2021)"
    )
    max_length: int = Field(256, ge=16, le=4096, description="tokens; longer inputs are truncated")
    train_subsample: PositiveInt | None = Field(
        None, description="stratified subsample of train (before the holdout), for CPU demos"
    )
    dev_subsample: PositiveInt | None = Field(
        None, description="stratified subsample of KLUE dev, for CPU demos"
    )
    dedupe: bool = Field(True, description="drop exact duplicate records (42 in KLUE train)")
    on_bad_record: Literal["error", "skip"] = Field(
        "error", description="error: stop at a malformed record; skip: drop and count it"
    )
    cache_dir: Path | None = Field(
        None,
        description="prepared-data cache; empty: $KLUE_LOSS_SWEEP_CACHE, else ~/.cache/...",
    )

    _paths = field_validator("dir", "cache_dir", mode="before")(resolve_path)

    def resolved_dir(self) -> Path:
        """``dir``, else ``$KLUE_RE_DIR``, else the download folder (see ``downloads``)."""
        if self.dir is not None:
            return self.dir
        from_env = os.environ.get(KLUE_RE_DIR_ENV)
        if from_env:
            return Path(from_env).expanduser().resolve()
        return download_dir()

    def downloads(self) -> bool:
        """Whether the data step fetches the official files (into ``resolved_dir()``): only when
        no folder is named. A named folder is never filled behind the user's back; files missing
        there are an error naming it."""
        return self.dir is None and not os.environ.get(KLUE_RE_DIR_ENV)

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        default = user_cache_dir()
        return Path(os.environ.get("KLUE_LOSS_SWEEP_CACHE", default)).expanduser().resolve()


class ScratchEncoderSettings(Section):
    """A BERT-style encoder built from this config when ``model.name_or_path`` is ``scratch``."""

    num_layers: PositiveInt = Field(2, description="transformer layers")
    hidden_size: PositiveInt = Field(128, description="width of every layer")
    num_heads: PositiveInt = Field(2, description="attention heads; must divide hidden_size")
    intermediate_size: PositiveInt = Field(512, description="feed-forward width")
    vocab_size: int = Field(12000, ge=1000, description="BPE vocabulary trained on train")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ScratchEncoderSettings:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must divide hidden_size ({self.hidden_size})"
            )
        return self


class ModelSettings(Section):
    name_or_path: str = Field(
        "klue/roberta-large", description="hub id, local save_pretrained folder, or 'scratch'"
    )
    head: Literal["entity_start", "cls"] = Field(
        "entity_start", description="entity_start: subject+object start-marker states; cls: [CLS]"
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout in the classification head")
    scratch: ScratchEncoderSettings = Field(default_factory=ScratchEncoderSettings)

    @property
    def is_scratch(self) -> bool:
        return self.name_or_path == "scratch"


# Upper bounds on what runs on the machine: a trial's settings are read back from MLflow (the
# report re-trains them), so a planted value must not start thousands of processes or allocate
# without limit. Far above any real run (KLUE fits batch 32; 4 workers feed a GPU).
MAX_BATCH_SIZE = 4096
MAX_WORKERS = 64
MAX_ACCUMULATION = 1024


class TrainSettings(Section):
    learning_rate: float = Field(3e-5, gt=0.0, le=1.0, description="peak AdamW learning rate")
    batch_size: int = Field(
        32, ge=1, le=MAX_BATCH_SIZE, description="examples per optimizer step per device"
    )
    eval_batch_size: int = Field(
        128, ge=1, le=MAX_BATCH_SIZE, description="examples per evaluation batch"
    )
    num_train_epochs: int = Field(3, ge=1, le=100, description="epochs; evaluated after each")
    schedule_epochs: int | None = Field(
        None,
        ge=1,
        le=100,
        description="epochs the learning-rate schedule spans; empty: num_train_epochs. A sweep "
        "that samples the epoch count sets its largest, so every trial's first k epochs follow "
        "the same schedule and early-stopping rungs compare like with like",
    )
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0, description="share of steps in linear warmup")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW decoupled weight decay")
    max_grad_norm: float = Field(1.0, gt=0.0, description="gradient clipping norm")
    gradient_accumulation_steps: int = Field(
        1, ge=1, le=MAX_ACCUMULATION, description="micro-batches per step"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on GPUs that support it, else fp16 on GPU, fp32 on CPU"
    )
    dataloader_workers: int = Field(
        0, ge=0, le=MAX_WORKERS, description="DataLoader worker processes"
    )
    log_every_steps: PositiveInt = Field(
        50,
        description="optimizer steps between training-loss points (MLflow train_loss_step and "
        "lr_step at step = global step) and progress lines; each epoch's end logs too",
    )
    seed: int | None = Field(
        None,
        description="training seed (init, batch order, dropout); empty: experiment.seed. The "
        "selection split always follows experiment.seed, so seeds vary training only",
    )

    @model_validator(mode="after")
    def _schedule_covers_training(self) -> TrainSettings:
        if self.schedule_epochs is not None and self.schedule_epochs < self.num_train_epochs:
            raise ValueError(
                f"schedule_epochs ({self.schedule_epochs}) must be >= num_train_epochs "
                f"({self.num_train_epochs})"
            )
        return self

    @property
    def scheduled_epochs(self) -> int:
        return self.schedule_epochs or self.num_train_epochs

    def effective_seed(self, experiment_seed: int) -> int:
        return experiment_seed if self.seed is None else self.seed


class CriterionSettings(BaseModel):
    """``name`` plus that criterion's parameters, e.g. ``{name: focal, gamma: 2.0}``."""

    model_config = ConfigDict(extra="allow")
    name: str = Field("ce", description="a name from losses.CRITERIA")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _known_to_the_registry(self) -> CriterionSettings:
        from losses import list_criteria  # torch is only needed once a criterion is configured

        criteria = list_criteria()
        if self.name not in criteria:
            raise ValueError(f"unknown criterion {self.name!r}; known: {', '.join(criteria)}")
        specs = criteria[self.name]
        for key, value in self.params.items():
            if key not in specs:
                raise ValueError(
                    f"{key!r} is not a parameter of {self.name}; "
                    f"known: {', '.join(specs) or 'none'}"
                )
            if value is not None and specs[key].kind != "class_vector":
                specs[key].check(self.name, value, num_labels=2)
        return self


class TrackingSettings(Section):
    uri: str | None = Field(
        None, description="MLflow tracking URI (sqlite:///mlflow.db, http://host:5000); empty: off"
    )
    experiment: str = Field("klue-re-loss", description="MLflow experiment name")
    parent_run_id: str | None = Field(None, description="set by the sweep driver, not by hand")
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="extra tags on the run; the report sets them on confirmation runs",
    )
    system_metrics_interval_s: float = Field(
        10.0,
        ge=0.0,
        description="seconds between CPU/memory/GPU samples (MLflow system/* metrics) on the "
        "trial's run; 0: off",
    )

    @field_validator("uri")
    @classmethod
    def _usable_uri(cls, uri: str | None) -> str | None:
        return check_tracking_uri(uri) if uri else uri


def _portable(path: Path | None) -> Path | None:
    return None if path is None else Path(portable_path(path))


class BestModelSettings(Section):
    """Set by the report on its confirmation runs, never by hand: the runs of one criterion
    share ``dir``, and of them the best keeps its model there (``trainable.best_model``)."""

    dir: Path = Field(description="one criterion's folder: <dir>/<run id> per run")
    metric: str = Field("micro_f1", description="selection-split metric picking epoch and run")

    _paths = field_validator("dir", mode="before")(resolve_path)


class StorageSettings(Section):
    path: Path = Field(
        CwdRelative("ray_results"),
        validate_default=True,
        description="Ray results and checkpoints, cwd-relative by default (shared on clusters)",
    )
    best_model: BestModelSettings | None = Field(
        None, description="confirmation runs only: keep the best selection-epoch model"
    )

    _paths = field_validator("path", mode="before")(resolve_path)


class TrialSettings(Section):
    """Everything one training run needs."""

    experiment: ExperimentSettings = Field(default_factory=ExperimentSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    criterion: CriterionSettings = Field(default_factory=CriterionSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)

    def portable(self) -> Self:
        """These settings as MLflow may hold them: every local location (data, cache, results,
        a model folder, an SQLite store) as ``portable_path`` gives it. Only for showing: the
        report never takes a location from MLflow."""
        data = self.data.model_copy(
            update={key: _portable(getattr(self.data, key)) for key in ("dir", "cache_dir")}
        )
        model = self.model.model_copy(
            update={"name_or_path": portable_path(self.model.name_or_path)}
        )
        best_model = self.storage.best_model
        if best_model is not None:
            best_model = best_model.model_copy(update={"dir": _portable(best_model.dir)})
        storage = self.storage.model_copy(
            update={"path": _portable(self.storage.path), "best_model": best_model}
        )
        uri = self.tracking.uri
        if uri and uri.startswith(SQLITE_PREFIX):
            uri = SQLITE_PREFIX + portable_path(uri.removeprefix(SQLITE_PREFIX))
        tracking = self.tracking.model_copy(update={"uri": uri})
        update = {"data": data, "model": model, "storage": storage, "tracking": tracking}
        return self.model_copy(update=update)

    def with_sampled(self, sampled: dict[str, Any]) -> TrialSettings:
        """Apply a trial's sampled values: ``criterion``, train fields, or criterion parameters.

        ``{"criterion": "focal", "gamma": 1.5, "learning_rate": 2e-5}`` sets ``criterion.name``,
        the focal parameter ``gamma`` and ``train.learning_rate``. A new criterion drops the old
        criterion's parameters.
        """
        data = self.model_dump(mode="python")
        if "criterion" in sampled and sampled["criterion"] != self.criterion.name:
            data["criterion"] = {"name": sampled["criterion"]}
        for key, value in sampled.items():
            if key == "criterion":
                continue
            section = "train" if key in TrainSettings.model_fields else "criterion"
            data[section][key] = value
        return validate_config(data, type(self), source="sampled trial config")

    def run_name(self, trial_id: str) -> str:
        """What the trial tries, as MLflow's run list shows it:
        ``focal-gamma2-lr1.0e-03-ep2-<trial id>`` (the criterion's numeric parameters only)."""
        own = [
            f"{key}{value:.3g}"
            for key, value in self.criterion.params.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        train = self.train
        return "-".join(
            [
                self.criterion.name,
                *own,
                f"lr{train.learning_rate:.1e}",
                f"ep{train.num_train_epochs}",
                trial_id,
            ]
        )
