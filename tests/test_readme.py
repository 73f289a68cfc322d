"""The docs must match the code: README.md stays a five-minute read, docs/criteria.md's table lists
every criterion, parameter and default, the tests docs/guarantees.md and docs/security.md cite
exist, every link between the documents lands, and no command they show puts a secret in shell
history. Each check reads the document that holds the text it checks."""

import re
from pathlib import Path

import pytest

from losses import list_criteria

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
DOCUMENTS = [README, *sorted(DOCS.glob("*.md")), REPO / "bench" / "README.md"]
CITED_TEST = r"`(?:[\w/]+/)?(test_\w+\.py)::(\w+)`"


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


def _table_row(name: str) -> str:
    text = (DOCS / "criteria.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"docs/criteria.md needs exactly one criteria-table row for {name!r}"
    return rows[0]


def _shown(default: object) -> str:
    return f'`"{default}"`' if isinstance(default, str) else str(default)


@pytest.mark.parametrize("name", list(list_criteria()))
def test_every_parameter_and_default_is_documented(name):
    row = _table_row(name)
    for spec in list_criteria()[name].values():
        assert f"`{spec.name}` ({_shown(spec.default)};" in row, (
            f"{name}.{spec.name} in criteria.md"
        )


def test_readme_is_a_five_minute_read_with_the_first_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= 250, "README.md: at most 250 lines; the rest goes to docs/"
    assert "make install && make quickstart" in text
    assert "make test" in text
    assert "source .venv/bin/activate" in text
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings.index("Layout") < headings.index("Commands"), "the layout comes early"
    for document in DOCUMENTS[1:]:
        assert f"]({_name(document)}" in text, f"README.md links {_name(document)}"


@pytest.mark.parametrize(
    ("document", "at_least"), [("docs/guarantees.md", 10), ("docs/security.md", 5)]
)
def test_every_test_the_guarantees_and_security_cite_exists(document, at_least):
    """Both tables name their proofs as ``file.py::test_name``; a renamed test breaks them."""
    cited = set(re.findall(CITED_TEST, (REPO / document).read_text()))
    assert len(cited) >= at_least, document
    _assert_tests_exist(cited, document)


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_every_test_any_document_cites_exists(document):
    _assert_tests_exist(set(re.findall(CITED_TEST, document.read_text())), _name(document))


def _assert_tests_exist(cited: set[tuple[str, str]], document: str) -> None:
    tests_dir = REPO / "tests"
    for file_name, test_name in sorted(cited):
        sources = [p.read_text() for p in tests_dir.rglob(file_name)]
        assert sources, f"{document} cites {file_name}, which is not under tests/"
        assert any(f"def {test_name}(" in text for text in sources), f"{file_name}::{test_name}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_every_link_between_the_documents_lands(document):
    """A relative link names a file of the repository and, with ``#anchor``, one of its headings."""
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        assert linked.exists(), f"{_name(document)} links {target}: no such file"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, f"{_name(document)} links {target}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_documents_state_current_facts_only(document):
    """History lives in git: no figure or method is described as an earlier version's."""
    past = r"previous (?:round|measurement|run)|earlier (?:run|full run|version)|round-1"
    assert not re.findall(past, document.read_text(), flags=re.IGNORECASE), _name(document)


def test_no_command_the_docs_show_puts_a_secret_in_shell_history():
    """A credential typed after ``NAME=`` lands in the shell's history file; the documented
    commands read it without echo (``read -rs``) and pass it on as a variable."""
    for document in DOCUMENTS:
        typed = re.findall(r"\b\w*(?:PASSWORD|TOKEN|SECRET)=(?![\"']?\$)\S*", document.read_text())
        assert not typed, (_name(document), typed)
    assert "read -rs MLFLOW_TRACKING_PASSWORD" in (DOCS / "cluster.md").read_text()
