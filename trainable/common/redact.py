"""Credentials never leave their place: what we log, store or print is redacted first.

Secrets reach a trial only through the environment (``MLFLOW_TRACKING_PASSWORD``,
``RAY_AUTH_TOKEN``, ...). Anything we write where others can read it (MLflow params, tags, notes
and text artifacts, outbox files on shared storage, error lines) passes through ``redact``, which
masks the values of secret-looking environment variables and the ``user:password@`` part of URLs.
Configs may not read secret-looking variables at all (``trainable.common.yaml_config``).
Local locations (home folder, data, cache, results) reach MLflow only as ``portable_path``
gives them: readers of an experiment learn neither user names nor the machine's layout.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "***"
# Names of environment variables that hold credentials: configs may not expand them, and their
# values are masked wherever they would be written. Words found anywhere in a name...
_SECRET_WORD = re.compile(
    r"TOKEN|PASS|SECRET|KEY|CREDENTIAL|CREDS|AUTH|COOKIE|PRIVATE|CONNECTION_STRING|DATABASE_URL",
    re.IGNORECASE,
)
# ...and abbreviations that count only as a whole ``_`` part (PATH holds PAT, OLDPWD holds PWD):
# MYSQL_PWD, GH_PAT, CI_JOB_JWT, SENTRY_DSN.
_SECRET_PART = re.compile(r"(?:^|_)(?:PWD|PAT|JWT|DSN)(?:_|$)", re.IGNORECASE)
_NOT_SECRET = {"PWD"}  # the shell's working directory
# Shorter values are not masked: replacing every "1234" in a log would garble it, and a secret
# that short is no secret.
MIN_MASKED_LENGTH = 8
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential: the one rule for both
    refusing ``${NAME}`` in configs and masking values in what we write."""
    if name.upper() in _NOT_SECRET:
        return False
    return bool(_SECRET_WORD.search(name) or _SECRET_PART.search(name))


def has_userinfo(uri: str) -> bool:
    """Whether a URL embeds ``user@`` or ``user:password@`` (MLflow would send it to the host)."""
    return bool(_URL_USERINFO.search(uri))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values to mask: those of secret-looking variables, longest first (so a secret that
    contains another is masked whole)."""
    environ = os.environ if environ is None else environ
    # Names first, then .get: other threads change os.environ while we read it (MLflow's
    # telemetry thread unsets its session variable), and .items() raises KeyError for a name
    # that vanished between the two reads.
    values = {environ.get(name) for name in list(environ) if looks_secret(name)}
    return sorted(
        (value for value in values if value and len(value) >= MIN_MASKED_LENGTH),
        key=len,
        reverse=True,
    )


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with secret values and URL credentials replaced by ``***``."""
    return _masked(text, secret_values(environ))


def redact_tree(value: Any) -> Any:
    """``redact`` applied to every string in nested dicts, lists and tuples (JSON documents);
    the environment is read once for the whole tree."""
    return _masked_tree(value, secret_values())


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", text)


def _masked_tree(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _masked(value, secrets)
    if isinstance(value, Mapping):
        return {key: _masked_tree(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_tree(item, secrets) for item in value]
    return value


def portable_path(path: str | Path) -> str:
    """An absolute ``path`` as others may see it: under the home folder ``~/...``; elsewhere its
    last part behind a hash of the rest (``<sha256:1a2b3c4d5e6f>/klue_re``), so runs on the same
    folder still show the same text. Relative paths (hub ids too) are returned as they are."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    home = Path.home()
    if path == home or path.is_relative_to(home):
        return str(Path("~") / path.relative_to(home))
    digest = hashlib.sha256(str(path.parent).encode()).hexdigest()[:12]
    return f"<sha256:{digest}>/{path.name}"


def portable_text(text: str, paths: Iterable[str | Path]) -> str:
    """``text`` with each of ``paths`` (longest first, so a folder inside another is shown
    whole), then the home folder, written as ``portable_path`` gives them."""
    for path in sorted({str(p) for p in paths if Path(p).is_absolute()}, key=len, reverse=True):
        text = text.replace(path, portable_path(path))
    return text.replace(str(Path.home()) + os.sep, "~" + os.sep)


def print_error(error: BaseException | str) -> None:
    """The one-line ``error: ...`` every command prints before exiting non-zero, redacted."""
    print(f"error: {redact(str(error))}", file=sys.stderr)
