"""Trial settings from YAML: overrides, env expansion, path resolution, one-line errors."""

from pathlib import Path

import pytest

from tests.helpers import REPO
from trainable.common.settings import TrialSettings
from trainable.common.yaml_config import ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_quickstart_config_is_valid_for_a_single_training_run():
    from search.config import load_sweep_config

    settings = load_sweep_config(REPO / "configs/quickstart.yaml").trial_sections()
    assert settings.model.is_scratch and settings.criterion.name == "ce"
    assert settings.train.schedule_epochs is None  # one training follows its own schedule


def test_overrides_env_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("LR", "2e-4")
    monkeypatch.chdir(tmp_path)
    path = write(
        tmp_path,
        "data:\n  dir: data/klue\n  cache_dir: ${CACHE:-cachedir}\ntrain:\n  learning_rate: ${LR}\n",
    )
    settings = load_config(
        path, TrialSettings, ["criterion.name=focal", "criterion.gamma=1.5", "storage.path=out"]
    )
    assert settings.data.dir == tmp_path / "data/klue"  # file-relative
    assert settings.data.cache_dir == Path.cwd() / "cachedir"  # env-derived: cwd-relative
    assert settings.storage.path == Path.cwd() / "out"  # --set: cwd-relative
    assert settings.train.learning_rate == 2e-4
    assert settings.criterion.name == "focal" and settings.criterion.params == {"gamma": 1.5}


BAD = [
    ("trian:\n  learning_rate: 1\n", "trian: unknown key 'trian'; did you mean 'train'?"),
    ("train:\n  learning_rat: 1e-5\n", "train.learning_rat: unknown key 'learning_rat'; did you mean 'learning_rate'?"),
    ("train:\n  learning_rate: -1\n", "train.learning_rate: Input should be greater than 0 (got -1)"),
    ("train:\n  num_train_epochs: two\n", "train.num_train_epochs: Input should be a valid integer"),
    ("data:\n  marker: brackets\n", "data.marker: Input should be 'typed_punct', 'entity_punct' or 'none'"),
    ("criterion:\n  name: facol\n", "criterion: unknown criterion 'facol'; known: ce, focal"),
    ("criterion:\n  name: focal\n  gamma: -1\n", "criterion: focal: gamma must be >= 0, but got -1.0"),
    ("criterion:\n  name: ce\n  gamma: 2\n", "criterion: 'gamma' is not a parameter of ce; known: weight"),
    ("model:\n  scratch:\n    hidden_size: 100\n    num_heads: 3\n", "model.scratch: num_heads (3) must divide hidden_size (100)"),
    ("data:\n  dir: ${NOT_SET_ANYWHERE}\n", "data.dir: environment variable NOT_SET_ANYWHERE is not set"),
    ("train: [1, 2\n", "invalid YAML at line 2, column 1"),
    ("- a\n- b\n", "the top level must be a mapping, got list"),
    ("just words\n", "the top level must be a mapping, got str"),
    ("", "the file is empty: a config needs at least one section"),
    ("# a comment, nothing else\n", "the file is empty"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_invalid_configs_give_one_line_per_problem(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), TrialSettings)
    assert message in str(error.value)
    assert all(line.startswith(str(tmp_path)) for line in str(error.value).splitlines())


def test_every_problem_is_reported_together(tmp_path):
    path = write(tmp_path, "train:\n  learning_rate: 0\n  batch_size: 0\ndata:\n  marker: x\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, TrialSettings)
    assert len(error.value.problems) == 3


def test_missing_file_and_malformed_override(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", TrialSettings)
    with pytest.raises(
        ConfigError, match=r"--set 'train\.learning_rate': expected key\.path=value"
    ):
        load_config(write(tmp_path, "{}\n"), TrialSettings, ["train.learning_rate"])


def test_with_sampled_routes_each_value_to_its_section():
    base = TrialSettings.model_validate(
        {"criterion": {"name": "label_smoothing", "smoothing": 0.2}}
    )
    trial = base.with_sampled({"criterion": "focal", "gamma": 0.5, "learning_rate": 1e-4})
    assert trial.criterion.name == "focal" and trial.criterion.params == {"gamma": 0.5}
    assert trial.train.learning_rate == 1e-4
    same = base.with_sampled({"smoothing": 0.05, "num_train_epochs": 4})
    assert same.criterion.params == {"smoothing": 0.05} and same.train.num_train_epochs == 4
    with pytest.raises(ConfigError, match="'gamma' is not a parameter of label_smoothing"):
        base.with_sampled({"gamma": 1.0})


def test_relative_sqlite_tracking_uri_is_pinned_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = TrialSettings.model_validate({"tracking": {"uri": "sqlite:///mlflow.db"}})
    assert settings.tracking.uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    remote = TrialSettings.model_validate({"tracking": {"uri": "http://127.0.0.1:5000"}})
    assert remote.tracking.uri == "http://127.0.0.1:5000"


def test_default_storage_path_is_absolute_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "configs" / "c.yaml"
    config.parent.mkdir()
    config.write_text("experiment:\n  name: x\n")
    assert load_config(config, TrialSettings).storage.path == tmp_path / "ray_results"
