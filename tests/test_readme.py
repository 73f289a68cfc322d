"""The README must match the code: the criteria table (every criterion, parameter, default) and
the tests its Guarantees table cites."""

import re
from pathlib import Path

import pytest

from losses import list_criteria

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_row(name: str) -> str:
    rows = [line for line in README.read_text().splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"README needs exactly one criteria-table row for {name!r}"
    return rows[0]


def _shown(default: object) -> str:
    return f'`"{default}"`' if isinstance(default, str) else str(default)


@pytest.mark.parametrize("name", list(list_criteria()))
def test_every_parameter_and_default_is_documented(name):
    row = _table_row(name)
    for spec in list_criteria()[name].values():
        assert f"`{spec.name}` ({_shown(spec.default)};" in row, f"{name}.{spec.name} in README"


def test_readme_shows_the_first_commands():
    text = README.read_text()
    assert "make install && make quickstart" in text
    assert "make test" in text


def test_every_test_the_readme_cites_exists():
    """The Guarantees table names its proofs as ``file.py::test_name``; a renamed test breaks it."""
    cited = set(re.findall(r"`(?:[\w/]+/)?(test_\w+\.py)::(\w+)`", README.read_text()))
    assert len(cited) >= 10
    tests_dir = README.parent / "tests"
    for file_name, test_name in sorted(cited):
        sources = [p.read_text() for p in tests_dir.rglob(file_name)]
        assert sources, f"README cites {file_name}, which is not under tests/"
        assert any(f"def {test_name}(" in text for text in sources), f"{file_name}::{test_name}"


def test_no_command_the_readme_shows_puts_a_secret_in_shell_history():
    """A credential typed after ``NAME=`` lands in the shell's history file; the README's
    commands read it without echo (``read -rs``) and pass it on as a variable."""
    text = README.read_text()
    typed = re.findall(r"\b\w*(?:PASSWORD|TOKEN|SECRET)=(?![\"']?\$)\S*", text)
    assert not typed, typed
    assert "read -rs MLFLOW_TRACKING_PASSWORD" in text
