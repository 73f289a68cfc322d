"""No credential leaves its place: a secret planted in the environment never reaches what we
write (configs, MLflow params/tags/notes/artifacts, outbox files, error lines)."""

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.support import free_port
from search.tracking import SweepDescription, SweepRun
from tests.helpers import REPO
from trainable.common.redact import looks_secret, redact
from trainable.common.settings import TrackingSettings, TrialSettings
from trainable.common.tracking import RunEnd
from trainable.common.yaml_config import ConfigError, load_config, validate_config
from trainable.tracking import open_trial_run

SECRET = "s3cr3t-planted-7f1d9c2ab4e8"


@pytest.fixture
def planted(monkeypatch) -> str:
    """A credential in the environment, as MLflow's or Ray's would be."""
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    return SECRET


def test_secret_values_and_url_credentials_are_masked(planted):
    text = f"password {planted} at http://bob:{planted}x@host:5000/api and https://tok@h"
    masked = redact(text)
    assert planted not in masked and "bob" not in masked and "tok@" not in masked
    assert masked == "password *** at http://***@host:5000/api and https://***@h"


def test_short_and_non_secret_values_are_left_alone(monkeypatch):
    monkeypatch.setenv("API_KEY", "1234")  # too short to be a secret; masking would garble text
    monkeypatch.setenv("KLUE_RE_DIR", "/data/klue_re_folder")  # not a secret-looking name
    assert redact("lr 1234 from /data/klue_re_folder") == "lr 1234 from /data/klue_re_folder"


@pytest.mark.parametrize(
    "name", ["MLFLOW_TRACKING_PASSWORD", "RAY_AUTH_TOKEN", "AWS_SECRET", "KEY"]
)
def test_a_config_cannot_read_a_secret_looking_variable(tmp_path, monkeypatch, name):
    monkeypatch.setenv(name, SECRET)
    config = tmp_path / "c.yaml"
    config.write_text(f"experiment:\n  name: run-${{{name}}}\n")
    with pytest.raises(ConfigError) as error:
        load_config(config, TrialSettings)
    message = str(error.value)
    assert f"experiment.name: ${{{name}}} names a secret" in message
    assert SECRET not in message


WIDER_SECRETS = [
    "MYSQL_PWD", "DB_PASS", "GH_PAT", "HF_HUB_PAT", "CI_JOB_JWT", "SENTRY_DSN", "DATABASE_URL",
    "AZURE_STORAGE_CONNECTION_STRING", "GOOGLE_APPLICATION_CREDS", "DOCKER_AUTH_CONFIG",
    "SESSION_COOKIE", "SSH_PRIVATE",
]  # fmt: skip


@pytest.mark.parametrize("name", WIDER_SECRETS)
def test_common_secret_names_are_masked_and_never_expanded(tmp_path, monkeypatch, name):
    """One rule for both: what a config may not read is what is masked where we write."""
    monkeypatch.setenv(name, SECRET)
    assert redact(f"value {SECRET}") == "value ***"
    config = tmp_path / "c.yaml"
    config.write_text(f"experiment:\n  name: run-${{{name}}}\n")
    with pytest.raises(ConfigError, match=f"\\${{{name}}} names a secret"):
        load_config(config, TrialSettings)


@pytest.mark.parametrize("name", ["PATH", "PWD", "OLDPWD", "HOME", "KLUE_RE_DIR", "PATCH_LEVEL"])
def test_look_alike_names_are_not_secrets(name):
    assert not looks_secret(name)


def test_other_variables_still_expand(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEP_NAME", "nightly")
    config = tmp_path / "c.yaml"
    config.write_text("experiment:\n  name: run-${SWEEP_NAME}\n")
    assert load_config(config, TrialSettings).experiment.name == "run-nightly"


def test_a_tracking_uri_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(ConfigError) as error:
        validate_config(
            {"tracking": {"uri": f"http://bob:{SECRET}@127.0.0.1:5000"}}, TrialSettings, source="c"
        )
    message = str(error.value)
    assert "tracking.uri: embeds a user name or password" in message
    assert "MLFLOW_TRACKING_USERNAME" in message
    assert SECRET not in message and "bob" not in message


def test_the_command_line_error_names_the_problem_not_the_secret(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"tracking:\n  uri: http://bob:{SECRET}@127.0.0.1:5000\n")
    done = subprocess.run(
        [sys.executable, "-m", "search.run", "--config", str(config), "--dry-run"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "tracking.uri: embeds a user name or password" in done.stderr
    assert SECRET not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_what_a_trial_logs_to_mlflow_is_redacted(tmp_path, planted):
    """The settings artifact, params, tags and the error of a failed trial, each carrying the
    planted secret, reach a real MLflow store masked."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = open_trial_run(
        TrackingSettings(uri=uri, experiment="leak"), "t1", f"ce-{planted}",
        {"note": f"from {planted}"}, {"who": f"by {planted}"}, experiment_dir=tmp_path / "res",
    )  # fmt: skip
    run.log_text(f"tracking:\n  password: {planted}\n", "trial_settings.yaml")
    run.finish(RunEnd.failed(f"RuntimeError: login {planted} refused"))
    client = MlflowClient(uri)
    logged = client.get_run(run.run_id)
    everything = json.dumps(
        [logged.data.params, logged.data.tags, logged.info.run_name], ensure_ascii=False
    )
    settings = client.download_artifacts(run.run_id, "trial_settings.yaml", str(tmp_path))
    everything += Path(settings).read_text(encoding="utf-8")
    assert planted not in everything
    assert logged.data.params["note"] == "from ***"
    assert logged.data.tags["error"] == "RuntimeError: login *** refused"
    assert "password: ***" in everything


def test_the_outbox_on_shared_storage_is_redacted(tmp_path, planted):
    """No server answers: the records wait in the outbox file, which holds no secret."""
    run = open_trial_run(
        TrackingSettings(uri=f"http://127.0.0.1:{free_port()}", experiment="leak"), "t1", "ce-t1",
        {"note": planted}, {"who": planted}, experiment_dir=tmp_path / "res",
    )  # fmt: skip
    run.log_text(f"password: {planted}\n", "trial_settings.yaml")
    run.finish(RunEnd.failed(f"boom {planted}"))
    kept = run.path.read_text(encoding="utf-8")
    assert run.run_id is None and "trial_settings.yaml" in kept
    assert planted not in kept


def test_the_sweep_run_params_and_note_are_redacted(tmp_path, planted):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    describe = SweepDescription({"data.dir": f"/mnt/{planted}"}, {"search.yaml": planted})
    sweep = SweepRun.open(TrackingSettings(uri=uri, experiment="leak"), "s", {}, None, describe)
    sweep.finish(f"# Summary\nfailed: login {planted} refused\n")
    logged = MlflowClient(uri).get_run(sweep.run_id)
    assert logged.data.params["data.dir"] == "/mnt/***"
    assert planted not in logged.data.tags["mlflow.note.content"]
    assert "login *** refused" in logged.data.tags["mlflow.note.content"]


class _VanishingEnviron(Mapping):
    """An environment from which a variable disappears between listing its name and reading
    its value, as os.environ does when another thread unsets it (MLflow's telemetry thread
    unsets ``_MLFLOW_TELEMETRY_SESSION_ID`` at start-up while a trial redacts). Like os.environ
    it is a ``Mapping``: its ``items()`` and ``get`` read through ``__getitem__``."""

    def __init__(self, **variables: str) -> None:
        self._names = list(variables)
        self._values = {k: v for k, v in variables.items() if k != "_VANISHED_TOKEN"}

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def test_a_variable_unset_while_redacting_is_skipped_not_an_error():
    environ = _VanishingEnviron(_VANISHED_TOKEN="gone-before-read", API_TOKEN="still-here-123")
    assert redact("a still-here-123 b", environ) == "a *** b"


def _imports_then_reports_telemetry(extra_env: dict[str, str]) -> str:
    """Imports the driver in a fresh process outside pytest (MLflow turns telemetry off by
    itself under pytest or CI variables) and prints whether MLflow's telemetry is off."""
    ci_names = {"PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "MLFLOW_DISABLE_TELEMETRY"}
    env = {k: v for k, v in os.environ.items() if k not in ci_names} | extra_env
    code = (
        "import search.run, search.report, trainable.common.tracking\n"
        "from mlflow.telemetry.client import get_telemetry_client\n"
        "from mlflow.telemetry.utils import is_telemetry_disabled\n"
        "print(is_telemetry_disabled(), get_telemetry_client() is None)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300, check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def test_mlflow_telemetry_is_off_unless_the_user_turns_it_on():
    """Runs send nothing to MLflow's vendor: a cluster's only MLflow traffic is its server."""
    assert _imports_then_reports_telemetry({}) == "True True"
    assert _imports_then_reports_telemetry({"MLFLOW_DISABLE_TELEMETRY": "false"}) == "False False"
