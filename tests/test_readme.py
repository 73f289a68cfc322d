"""The README's criteria table must match the registry: every criterion, parameter and default."""

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
