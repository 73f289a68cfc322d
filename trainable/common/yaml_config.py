"""YAML file → validated pydantic settings, with every problem reported at once, one per line.

Read by every entry point (``search.run``, ``search.trial``, ``search.report``,
``search.compare``) through ``search.config``, and by the report for a trial's saved settings.
Imports neither torch nor ray, so a bad config fails in about a second.

- ``${VAR}`` and ``${VAR:-default}`` in string values expand from the environment, except
  variables whose names look secret (``*TOKEN*``, ``*PASS*``, ``*SECRET*``, ``*KEY*``, ``*AUTH*``,
  ``*_PAT``, ``*_PWD``, ``*_DSN``, ``DATABASE_URL``...: ``redact.looks_secret``, the rule the
  masking uses too): a config's values are logged and shared, so a credential must never become
  one.
- ``--set a.b=value`` overrides parse ``value`` as a YAML scalar (``1e-5``, ``null``, ``[1, 2]``).
- Relative paths written in the file resolve against the file's folder; paths from an environment
  variable or a ``--set`` resolve against the working directory, as in a shell.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import pydantic
import yaml
from pydantic import BaseModel, ValidationInfo

from trainable.common.cli import InputError
from trainable.common.redact import looks_secret, redact

ModelT = TypeVar("ModelT", bound=BaseModel)
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(InputError, ValueError):
    """An invalid config; ``str()`` is one line per problem, each naming its key path."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


class CwdRelative(str):
    """A string that came from the environment or the command line: relative to the cwd."""


def resolve_path(value: Any, info: ValidationInfo) -> Any:
    """A ``field_validator(mode="before")`` body for path fields (see the module docstring)."""
    if value is None or str(value) == "":
        return None
    path = Path(os.path.expanduser(str(value)))
    if path.is_absolute():
        return path
    base = Path.cwd() if isinstance(value, CwdRelative) else (info.context or {}).get("base_dir")
    return (Path(base or Path.cwd()) / path).resolve()


def load_config(
    path: str | Path,
    schema: type[ModelT],
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> ModelT:
    """Read, expand, override and validate ``path`` against ``schema``; raise ``ConfigError``."""
    path = Path(path)
    raw = _read_yaml(path)
    problems: list[str] = []
    expanded = _expand_env(raw, os.environ if environ is None else environ, (), problems)
    for override in overrides:
        _apply_override(expanded, override, problems)
    if problems:
        raise ConfigError(str(path), problems)
    return validate_config(expanded, schema, source=str(path), base_dir=path.resolve().parent)


def validate_config(
    data: Mapping[str, Any], schema: type[ModelT], *, source: str, base_dir: Path | None = None
) -> ModelT:
    """Validate an already-loaded mapping, turning pydantic's errors into ``ConfigError`` lines."""
    try:
        return schema.model_validate(data, context={"base_dir": base_dir})
    except pydantic.ValidationError as error:
        raise ConfigError(source, _describe(error, schema)) from None


def add_config_arguments(
    parser: argparse.ArgumentParser, example_override: str, required: bool = True
) -> None:
    """``--config FILE`` and repeatable ``--set key.path=value``, as every entry point has."""
    parser.add_argument("--config", required=required, help="YAML config (configs/quickstart.yaml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config value, e.g. --set {example_override} (repeatable)",
    )


def dump_yaml(settings: BaseModel, *, exclude_none: bool = False) -> str:
    """The resolved settings as YAML (paths as strings, keys as written in a config file), for
    ``--dry-run`` and run artifacts: fed back as a config, it validates to the same settings.
    ``exclude_none`` leaves out unset optional keys (a space entry shows only its kind)."""
    data = settings.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------- reading and overriding
def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["config file not found"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [f"cannot read the config file ({error})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(str(path), [f"invalid YAML at {where}{problem}"]) from None
    if data is None:  # nothing, or comments only: never a silent default (production) run
        raise ConfigError(str(path), ["the file is empty: a config needs at least one section"])
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), [f"the top level must be a mapping, got {type(data).__name__}"]
        )
    return data


def _expand_env(value: Any, environ: Mapping[str, str], where: tuple, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, environ, (*where, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, environ, (*where, i), problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if looks_secret(name):
            problems.append(
                f"{_dotted(where)}: ${{{name}}} names a secret; configs are logged and shared, so "
                "they may not read credentials (MLflow and Ray read theirs from the environment)"
            )
            return ""
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(f"{_dotted(where)}: environment variable {name} is not set")
        return ""

    return CwdRelative(_ENV_PATTERN.sub(substitute, value))


def _apply_override(data: dict[str, Any], override: str, problems: list[str]) -> None:
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        problems.append(f"--set {override!r}: expected key.path=value")
        return
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    if isinstance(value, str):
        value = CwdRelative(value)
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            problems.append(f"--set {key}: {part} is not a section")
            return
        node = child
    node[leaf] = value


# ---------------------------------------------------------------- error messages
def _describe(error: pydantic.ValidationError, schema: type[BaseModel]) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(_unknown_key_message(schema, loc))
            continue
        message = item["msg"].removeprefix("Value error, ")
        shown = item.get("input")
        got = "" if isinstance(shown, dict) or item["type"] == "missing" else f" (got {shown!r})"
        lines.append(redact(f"{_dotted(loc) or '(top level)'}: {message}{got}"))
    return lines


def _unknown_key_message(schema: type[BaseModel], loc: tuple) -> str:
    known = _known_keys(schema, loc[:-1])
    key = str(loc[-1])
    hint = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(known)}"
    return f"{_dotted(loc)}: unknown key {key!r}{suggestion}"


def _known_keys(schema: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at ``loc`` (by their YAML names), walking models, dicts and lists."""
    node: Any = schema
    for part in loc:
        node = _unwrap_optional(node)
        if get_origin(node) in (dict, list, tuple):
            node = get_args(node)[-1]  # a key or index into a container: its value type
            continue
        field = _fields_by_yaml_name(node).get(part)
        if field is None:
            return []
        node = field.annotation
    return list(_fields_by_yaml_name(_unwrap_optional(node)))


def _fields_by_yaml_name(model: Any) -> dict[str, Any]:
    fields = getattr(model, "model_fields", {}) if isinstance(model, type) else {}
    return {field.alias or name: field for name, field in fields.items()}


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        return next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


def _dotted(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
