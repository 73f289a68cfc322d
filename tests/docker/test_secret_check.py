"""docker/check-secrets.sh, run for real by `sh` as the containers run it: a placeholder, short or
empty secret stops the container with one line naming the variable and never its value; a good
one runs the command in its place."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.docker.helpers import CHECK_SECRETS, PLACEHOLDER

GOOD = "0123456789abcdef" * 4  # what `openssl rand -hex 32` gives: 64 characters
# A value that is easy to spot if it leaked into the output.
SHORT = "leakcanary-" + "x" * 20  # 31 characters


def _check(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment}
    return subprocess.run(
        ["sh", str(CHECK_SECRETS), *args],
        capture_output=True, text=True, timeout=30, env=clean,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (PLACEHOLDER, "still the placeholder change-me"),
        (SHORT, "shorter than 32 characters"),
        ("", "empty or unset"),
        (None, "empty or unset"),
    ],
    ids=["placeholder", "31-characters", "empty", "unset"],
)
def test_a_weak_secret_is_refused_by_name_without_printing_it(value, problem):
    assert value is None or value == PLACEHOLDER or len(value) < 32
    environment = {} if value is None else {"DEMO_PASSWORD": value}
    done = _check(environment, "DEMO_PASSWORD", "--", "echo", "started")
    assert done.returncode == 1
    assert "started" not in done.stdout, "the command must not run"
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "DEMO_PASSWORD" in lines[0] and problem in lines[0]
    if value and value != PLACEHOLDER:
        assert value not in done.stdout + done.stderr


def test_a_good_secret_runs_the_command_in_place_of_the_check():
    done = _check({"DEMO_PASSWORD": GOOD}, "DEMO_PASSWORD", "--", "sh", "-c", "echo started $$")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("started")
    assert GOOD not in done.stdout + done.stderr
    # Without a command the check only answers.
    assert _check({"DEMO_PASSWORD": GOOD}, "DEMO_PASSWORD").returncode == 0


def test_the_command_keeps_its_exit_code():
    done = _check({"DEMO_PASSWORD": GOOD}, "DEMO_PASSWORD", "--", "sh", "-c", "exit 7")
    assert done.returncode == 7


def test_every_weak_secret_gets_its_own_line():
    environment = {"A_TOKEN": PLACEHOLDER, "B_PASSWORD": GOOD, "C_SECRET": SHORT}
    done = _check(environment, "A_TOKEN", "B_PASSWORD", "C_SECRET", "--", "true")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert "A_TOKEN" in lines[0] and "C_SECRET" in lines[1]
    assert "B_PASSWORD" not in done.stderr
    assert SHORT not in done.stderr


def test_a_malformed_name_is_refused_not_evaluated(tmp_path):
    marker = tmp_path / "evaluated"
    done = _check({}, f"X;touch {marker}", "--", "true")
    assert done.returncode == 2
    assert not marker.exists()


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash is not installed")
def test_it_runs_under_a_strict_posix_shell():
    # The images' /bin/sh differ (dash on Debian and Ubuntu); no bash-only syntax may slip in.
    done = subprocess.run(
        ["dash", str(CHECK_SECRETS), "DEMO_PASSWORD", "--", "true"],
        capture_output=True, text=True, timeout=30, env={"DEMO_PASSWORD": GOOD, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
