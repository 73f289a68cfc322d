"""Every command README.md, docs/*.md and bench/README.md show works as written.

Each ```bash block (and each indented block of commands) is split into simple commands, and each
is checked as cheaply as it can be run:

- ``python -m MODULE ...`` and ``python bench/SCRIPT.py ...``: every flag the document uses must be
  one the command's ``--help`` lists (its subcommand's, for ``trainable.data fetch``). A sweep
  command also runs with ``--dry-run``, which loads its config with the document's ``--set``
  values; other commands with a ``--config`` file load it the way the command does.
- ``make TARGET [VAR=value]``: ``make -n`` must know the target.
- ``bash FILE``: the script exists and parses (``bash -n``).
- ``mlflow ...`` and ``ray ...``: every flag is in the subcommand's ``--help``; the command after
  ``ray job submit ... --`` is checked as a command of its own.
- anything else is in ``SKIPPED``, with the reason it cannot run here and what covers it.

A command no check knows and no ``SKIPPED`` entry names fails, so a new kind of command needs one
or the other.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCUMENTS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "bench" / "README.md",
]

# The first word(s) of a command that cannot run here, and why.
SKIPPED = {
    "docker compose": "Docker: make docker-test brings up the CPU stack from these files and "
    "submits a sweep with ray job submit (tests/docker/e2e.sh, test_stack.py)",
    "kubectl": "a Kubernetes cluster: tests/docker/test_cluster_files.py checks docker/rayjob.yaml "
    "and that the Secrets are created --from-file",
    "curl": "a running `mlflow models serve`: "
    "test_champion.py::test_mlflow_models_serve_answers_as_search_predict sends this request",
    "openssl": "prints a random secret (OpenSSL, nothing of ours)",
    "read": "reads a password from the terminal (shell builtin)",
    "export": "sets variables (shell builtin)",
    "umask": "sets the file mode mask (shell builtin)",
    "set": "shell builtin, around sourcing docker/.env",
    ". docker/.env": "the operator's secrets, made from docker/.env.example (git-ignored)",
}
# What a placeholder stands for where a command runs for real.
PLACEHOLDER_CONFIG = "configs/quickstart.yaml"
OPTION = re.compile(r"^--?[A-Za-z][\w-]*$")
SEPARATORS = {"&&", "||", ";", "|", "(", ")", "&"}


def code_blocks(text: str) -> list[str]:
    """The ```bash blocks, and the indented blocks whose lines are commands."""
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    outside = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    for indented in re.findall(r"(?:^\n)((?: {4}\S.*\n)+)", outside, flags=re.MULTILINE):
        lines = [line[4:] for line in indented.splitlines()]
        if all(re.match(r"(nice |python |make |bash |\.venv/)", line) for line in lines):
            blocks.append("\n".join(lines) + "\n")
    return blocks


def commands(block: str) -> list[list[str]]:
    """Simple commands as tokens: continuations and quoted line breaks joined, comments dropped,
    split at ``&&``, ``;``, ``|`` and parentheses."""
    result, pending = [], ""
    for line in block.splitlines():
        pending += line[:-1] + " " if line.endswith("\\") else line + "\n"
        if line.endswith("\\"):
            continue
        try:
            lexer = shlex.shlex(pending, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:  # a quote still open: the command goes on on the next line
            continue
        pending = ""
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token in SEPARATORS:
                if current:
                    result.append(current)
                current = []
            else:
                current.append(token)
    assert not pending.strip(), f"unfinished command: {pending!r}"
    return result


def documented() -> list[tuple[str, list[str]]]:
    found = []
    for document in DOCUMENTS:
        for block in code_blocks(document.read_text()):
            for tokens in commands(block):
                found.append((str(document.relative_to(REPO)), tokens))
    return found


def _strip_prefixes(tokens: list[str]) -> list[str]:
    """Drop ``NAME=value`` assignments and ``nice -n N`` in front of the command."""
    while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
        tokens = tokens[1:]
    if tokens[:2] == ["nice", "-n"]:
        tokens = tokens[3:]
    return tokens


def skip_reason(tokens: list[str]) -> str | None:
    line = " ".join(_strip_prefixes(tokens))
    for prefix, reason in SKIPPED.items():
        if line == prefix or line.startswith(prefix + " "):
            return reason
    return None


def check(tokens: list[str]) -> list[str]:
    """What is wrong with one documented command (empty: it works as written)."""
    tokens = _strip_prefixes(tokens)
    program = tokens[0]
    if program in ("python", "python3", ".venv/bin/python"):
        return _check_python(tokens[1:])
    if program == "make":
        return _check_make(tokens[1:])
    if program == "bash":
        return _check_bash(tokens[1:])
    if program in ("source", "."):
        return [] if (REPO / tokens[1]).is_file() else [f"{tokens[1]}: no such file"]
    if program == "cp":
        return [] if (REPO / tokens[1]).is_file() else [f"cp {tokens[1]}: no such file"]
    if Path(program).name in ("mlflow", "ray"):
        return _check_cli(Path(program).name, tokens[1:])
    return [f"{' '.join(tokens)}: no check runs it and SKIPPED does not name it"]


def _check_python(args: list[str]) -> list[str]:
    if args[0] == "-m":
        base, args = ("-m", args[1]), args[2:]
    elif args[0].endswith(".py"):
        if not (REPO / args[0]).is_file():
            return [f"{args[0]}: no such file"]
        base, args = (args[0],), args[1:]
    else:
        return [f"python {' '.join(args)}: neither -m MODULE nor a script"]
    command = (sys.executable, *base)
    help_text = _help(command)
    choices = re.findall(r"\{([\w,-]+)\}", help_text)  # argparse's subcommands: {fetch}
    if args and any(args[0] in group.split(",") for group in choices):
        command, args = (*command, args[0]), args[1:]  # a subcommand: its own flags
        help_text = _help(command)
    problems = _unknown_flags(" ".join(command[1:]), args, help_text)
    if problems:
        return problems
    return _run_for_real(base, args)


def _run_for_real(base: tuple[str, ...], args: list[str]) -> list[str]:
    """A sweep runs with --dry-run; another command with a --config loads it as the command does."""
    if any("[" in arg or arg == "..." for arg in args) or "--config" not in args:
        return []
    config = args[args.index("--config") + 1]
    if config == "FILE":
        config = PLACEHOLDER_CONFIG
    elif re.search(r"(^|/)[A-Z_]+(/|$)", config):
        return []  # a placeholder folder (reports/SWEEP/...): a file only a run makes
    if not (REPO / config).is_file():
        return [f"--config {config}: no such file"]
    args = [config if arg == "FILE" else arg for arg in args]
    sets = [args[i + 1] for i, arg in enumerate(args) if arg == "--set"]
    if base == ("-m", "search.run"):
        command = [sys.executable, "-m", "search.run", *args]
        command += [] if "--dry-run" in args else ["--dry-run"]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
        return [] if done.returncode == 0 else [f"{shlex.join(command[1:])}: {done.stderr.strip()}"]
    if base == ("-m", "search.compare"):
        from search.compare import load_compare_config as load
    elif base in (("-m", "search.trial"), ("-m", "search.report")):
        from search.config import load_sweep_config as load
    else:
        return []
    from trainable.common.yaml_config import ConfigError

    try:
        load(REPO / config, sets)
    except ConfigError as error:
        return [f"{' '.join(base)} --config {config} {sets}: {error}"]
    return []


def _check_make(args: list[str]) -> list[str]:
    done = subprocess.run(
        ["make", "-n", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    return [] if done.returncode == 0 else [f"make {' '.join(args)}: {done.stderr.strip()}"]


def _check_bash(args: list[str]) -> list[str]:
    script = REPO / args[0]
    if not script.is_file():
        return [f"bash {args[0]}: no such file"]
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    return [] if done.returncode == 0 else [f"bash -n {args[0]}: {done.stderr.strip()}"]


def _check_cli(program: str, args: list[str]) -> list[str]:
    inner: list[str] = []
    if "--" in args:
        args, inner = args[: args.index("--")], args[args.index("--") + 1 :]
    subcommands = []
    while args and not args[0].startswith("-"):
        subcommands.append(args.pop(0))
    command = (str(BIN / program), *subcommands)
    name = " ".join([program, *subcommands])
    problems = _unknown_flags(name, args, _help(command))
    return problems + (check(inner) if inner else [])


@functools.cache
def _help(command: tuple[str, ...]) -> str:
    done = subprocess.run(
        [*command, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{shlex.join(command)} --help: {done.stderr[-2000:]}"
    return done.stdout


def accepted_flags(help_text: str) -> set[str]:
    """The options a --help lists: the option column of each of its option lines."""
    flags = set()
    for line in help_text.splitlines():
        if re.match(r"^\s+-", line):
            column = re.split(r"\s{2,}", line.strip())[0]
            flags |= set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", column))
    return flags


def _unknown_flags(name: str, args: list[str], help_text: str) -> list[str]:
    used = {arg.strip("[]()").split("=")[0] for arg in args}
    used = {flag for flag in used if OPTION.match(flag)}
    unknown = sorted(used - accepted_flags(help_text))
    return [f"{name}: {flag} is not an option it accepts" for flag in unknown]


DOCUMENTED = documented()


def test_every_document_shows_commands_in_blocks_this_test_reads():
    per_document = {name for name, _ in DOCUMENTED}
    for document in ("README.md", "bench/README.md", "docs/cluster.md", "docs/trial.md"):
        assert document in per_document, document
    assert len(DOCUMENTED) >= 40
    for document in DOCUMENTS:  # a command in a block of another language would go unchecked
        for language, body in re.findall(
            r"^```(\w*)\n(.*?)^```", document.read_text(), flags=re.DOTALL | re.MULTILINE
        ):
            if language != "bash":
                assert not re.search(r"^(python -m|make |bash )", body, flags=re.MULTILINE), (
                    f"{document.name}: a command in a ```{language} block; make it ```bash"
                )


@pytest.mark.slow  # about a minute: a --help per command, a --dry-run per sweep command
@pytest.mark.parametrize(
    ("document", "tokens"), DOCUMENTED, ids=[f"{d}: {' '.join(t)[:70]}" for d, t in DOCUMENTED]
)
def test_documented_command_works_as_written(document, tokens):
    reason = skip_reason(tokens)
    if reason:
        pytest.skip(reason)
    assert not check(tokens), f"{document}: {shlex.join(tokens)}: {check(tokens)}"


def test_a_planted_doc_line_with_a_bogus_flag_or_target_is_caught(tmp_path):
    """The checker has teeth: a document that drifts from the code fails."""
    planted = tmp_path / "README.md"
    planted.write_text(
        (REPO / "README.md").read_text()
        + "\n```bash\n"
        + "python -m search.run --config configs/quickstart.yaml --no-such-flag\n"
        + "python -m search.report --tracking-uri sqlite:///mlflow.db --experiment x --seed 3\n"
        + "python -m search.run --config configs/quickstart.yaml --set train.learning_rat=0.1\n"
        + "make no-such-target\n"
        + "python -m search.trial --config configs/quickstart.yml\n"
        + "frobnicate --all\n"
        + "```\n"
    )
    planted_commands = commands(code_blocks(planted.read_text())[-1])
    assert len(planted_commands) == 6
    flagged = [check(tokens) for tokens in planted_commands]
    assert "--no-such-flag is not an option" in flagged[0][0]
    assert "--seed is not an option" in flagged[1][0]  # --seeds is; a prefix is not enough
    assert "learning_rat" in flagged[2][0]
    assert "no-such-target" in flagged[3][0]
    assert "no such file" in flagged[4][0]
    assert "SKIPPED does not name it" in flagged[5][0]


def test_commands_are_split_as_a_shell_would():
    block = (
        "MLFLOW_TRACKING_URI=sqlite:///mlflow.db mlflow models serve \\\n"
        "    -m models:/x@champion -h 127.0.0.1   # a comment --not-a-flag\n"
        "(umask 077 && cp docker/.env.example docker/.env)\n"
        "curl -s url -d '{\"a\":\n  1}'\n"
    )
    assert commands(block) == [
        ["MLFLOW_TRACKING_URI=sqlite:///mlflow.db", "mlflow", "models", "serve", "-m",
         "models:/x@champion", "-h", "127.0.0.1"],
        ["umask", "077"],
        ["cp", "docker/.env.example", "docker/.env"],
        ["curl", "-s", "url", "-d", '{"a":\n  1}'],
    ]  # fmt: skip
