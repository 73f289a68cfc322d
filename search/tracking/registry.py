"""The MLflow Model Registry: log a relation model on a run, register it under an alias, load
it back. The one place that calls MLflow's model APIs.

A model is logged as MLflow "models from code" (``trainable/serving.py`` travels with it, the
weights as an artifact folder): nothing is pickled, so loading a model runs only our code.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from trainable.common.redact import redact
from trainable.common.tracking.client import TrackingError, tracking_client

MODEL_ARTIFACT_PATH = "model"
CHAMPION_ALIAS = "champion"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding trainable/, losses/
# What the model's code needs; recorded with the model (pinned as this environment has them)
# so ``mlflow models serve`` with a virtualenv can rebuild it; ``--env-manager local`` uses ours.
_REQUIREMENTS = ("torch", "transformers", "tokenizers", "safetensors", "mlflow", "pandas", "numpy")


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    alias: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def register_relation_model(
    uri: str,
    run_id: str,
    model_folder: Path,
    name: str,
    *,
    example: pd.DataFrame,
    output: pd.DataFrame,
    tags: dict[str, str],
) -> RegisteredVersion:
    """Log ``model_folder`` as a pyfunc model on ``run_id`` and register it as a new version of
    ``name`` with the ``champion`` alias and ``tags`` (text passes the redaction)."""
    try:
        with _registry(uri), tempfile.TemporaryDirectory() as scratch:
            saved = _save_pyfunc(Path(scratch), model_folder, example, output)
            client = tracking_client(uri)
            client.log_artifacts(run_id, str(saved), "model")
            version = mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT_PATH}", name)
            for key, value in tags.items():
                client.set_model_version_tag(name, version.version, key, redact(str(value)))
            client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
    except MlflowException as error:  # refused (permissions, a bad name): one line for the caller
        raise TrackingError(f"registering {name!r}: {_first_line(error)}") from None
    return RegisteredVersion(name, str(version.version), CHAMPION_ALIAS)


def _save_pyfunc(
    scratch: Path, model_folder: Path, example: pd.DataFrame, output: pd.DataFrame
) -> Path:
    """The model as MLflow "models from code" in ``scratch``: our code travels, nothing pickled."""
    from trainable import serving

    saved = scratch / MODEL_ARTIFACT_PATH
    mlflow.pyfunc.save_model(
        saved,
        python_model=serving.__file__,
        artifacts={serving.MODEL_ARTIFACT: str(model_folder)},
        code_paths=[str(_PACKAGE_ROOT / "trainable"), str(_PACKAGE_ROOT / "losses")],
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=_pinned_requirements(),
    )
    return saved


def champion_again(uri: str, name: str, run_id: str) -> RegisteredVersion | None:
    """Point ``@champion`` at the newest version of ``name`` registered from ``run_id`` (an
    earlier report of the same sweep registered it); None when there is none."""
    try:
        client = tracking_client(uri)
        found = client.search_model_versions(f"run_id = '{run_id}'")  # a run id is hex
        versions = [version for version in found if version.name == name]
        if not versions:
            return None
        newest = max(versions, key=lambda version: int(version.version))
        client.set_registered_model_alias(name, CHAMPION_ALIAS, newest.version)
    except MlflowException as error:
        raise TrackingError(f"registering {name!r}: {_first_line(error)}") from None
    return RegisteredVersion(name, str(newest.version), CHAMPION_ALIAS)


def load_registered_model(uri: str, model_uri: str) -> Any:
    """The pyfunc model at ``model_uri`` (``models:/NAME@ALIAS``, ``runs:/...``); an unknown
    name, alias or run is a ``TrackingError`` naming it."""
    try:
        with _registry(uri):
            return mlflow.pyfunc.load_model(model_uri)
    except MlflowException as error:
        raise TrackingError(f"--model {model_uri}: {_first_line(error)}") from None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return redact(text.splitlines()[0])[:300] if text else type(error).__name__


@contextlib.contextmanager
def _registry(uri: str) -> Iterator[None]:
    """MLflow's model functions read the process-wide tracking and registry URIs."""
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)


def _pinned_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{package}=={version(package)}" for package in _REQUIREMENTS]
