"""Can the configured encoder be loaded? One short probe of the Hugging Face Hub, before the data.

``from_pretrained`` finds an unreachable hub late and slowly: huggingface_hub retries each file
five times, 1–8 s apart, so with no network the clear message came after about a minute, once
the data was prepared. Here one ``model_info`` request with a short timeout and no retry answers
in seconds, and ``HF_HUB_OFFLINE=1`` answers at once. A model already in the local Hugging Face
cache passes either way, since ``from_pretrained`` loads it from there. Imports neither torch nor
transformers, so the entry points probe before their heavy imports.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, is_offline_mode, try_to_load_from_cache
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id

from trainable.common.cli import InputError
from trainable.common.settings import ModelSettings

HUB_TIMEOUT_S = 10.0  # to connect and to answer; one attempt


class ModelLoadError(InputError, RuntimeError):
    """The configured encoder or tokenizer cannot be loaded (message says which and why)."""


def load_error(name_or_path: str, what: str, reason: object) -> ModelLoadError:
    """The one message for an encoder that cannot be had, whether the probe here or loading
    (``trainable.model``) finds it out."""
    return ModelLoadError(
        f"model.name_or_path={name_or_path!r}: cannot load the {what} ({reason}). "
        "Use a reachable hub id, a local save_pretrained folder, or 'scratch' offline."
    )


def check_model_source(settings: ModelSettings) -> None:
    """Raise ``ModelLoadError`` (the message loading would give) when ``model.name_or_path`` is
    a hub id that cannot be reached and is not cached; ``scratch`` and local folders pass."""
    name = settings.name_or_path
    if settings.is_scratch or Path(name).is_dir():
        return
    problem = _hub_problem(name)
    if problem:
        raise load_error(name, "model", problem)


def _hub_problem(repo_id: str) -> str | None:
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return "no such folder, and not a hub id"
    cached = isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    if is_offline_mode():
        return None if cached else "HF_HUB_OFFLINE is set and it is not in the local cache"
    try:
        HfApi().model_info(repo_id, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:
        return f"no such model on {constants.ENDPOINT}, or a private one without a token"
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None if cached else f"{constants.ENDPOINT} did not answer: {reason}"
    return None
