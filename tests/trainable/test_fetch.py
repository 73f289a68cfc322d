"""Fetching the official KLUE RE files: verified, atomic, nothing downloaded twice, fast to fail.

A real HTTP server on 127.0.0.1 serves the real files (``klue_dir``) under three paths: ``/good``
as they are, ``/altered`` with one label of the dev file changed (same length, other sha256), and
``/cut``, which announces the whole train file and closes the connection halfway through it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.support import free_port
from tests.helpers import DEV, RELATIONS, REPO, TRAIN
from trainable.common.settings import TrialSettings
from trainable.data import main as data_main
from trainable.data import prepare_data
from trainable.fetch import LICENSE, SHA256, URL_ENV, FetchError, fetch_klue_re
from trainable.records import DataError


class _KlueHandler(BaseHTTPRequestHandler):
    """``GET /<mode>/<file>``; every request's file name is recorded in ``server.requests``."""

    def do_GET(self) -> None:
        mode, _, name = self.path.strip("/").partition("/")
        self.server.requests.append(name)
        path = self.server.folder / name
        if mode not in ("good", "altered", "cut") or "/" in name or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if mode == "altered" and name == DEV:
            body = body.replace(b'"no_relation"', b'"no-relation"', 1)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = mode == "cut" and name == TRAIN
        self.wfile.write(body[: len(body) // 2] if cut else body)  # then HTTP/1.0 closes

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def klue_server(klue_dir):
    """The server and its base URL; ``server.requests`` lists the files asked for."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KlueHandler)
    server.folder, server.requests = klue_dir, []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _listing(folder: Path) -> list[str]:
    """Every entry, hidden temporary files included."""
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_a_good_fetch_places_the_official_files_and_names_folder_and_license(
    klue_server, klue_dir, tmp_path, monkeypatch, capsys
):
    server, url = klue_server
    monkeypatch.setenv(URL_ENV, f"{url}/good")
    dest = tmp_path / "klue_re"
    assert fetch_klue_re(dest) == [RELATIONS, DEV, TRAIN]
    assert server.requests == [RELATIONS, DEV, TRAIN]  # smallest first, each once
    assert _listing(dest) == sorted([RELATIONS, DEV, TRAIN])  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    for name in (RELATIONS, DEV, TRAIN):
        assert (dest / name).read_bytes() == (klue_dir / name).read_bytes()
        assert (dest / name).stat().st_mode & 0o777 == 0o666 & ~umask  # as any file one writes
    printed = capsys.readouterr()
    assert f"into {dest}" in printed.out and f"saved in {dest}" in printed.out
    assert f"License: {LICENSE}" in printed.out
    assert TRAIN in printed.err and "21.3M" in printed.err  # the progress bar, in bytes


def test_a_second_fetch_downloads_nothing_and_a_damaged_file_is_fetched_again(
    klue_server, tmp_path, monkeypatch, capsys
):
    server, url = klue_server
    monkeypatch.setenv(URL_ENV, f"{url}/good")
    dest = tmp_path / "klue_re"
    fetch_klue_re(dest)
    stamps = {name: (dest / name).stat().st_mtime_ns for name in SHA256}
    server.requests.clear()
    capsys.readouterr()
    assert fetch_klue_re(dest) == []
    assert server.requests == [] and not capsys.readouterr().out  # silent, nothing asked for
    assert {name: (dest / name).stat().st_mtime_ns for name in SHA256} == stamps
    (dest / DEV).write_bytes((dest / DEV).read_bytes()[:-10])  # damaged by hand
    assert fetch_klue_re(dest) == [DEV]
    assert server.requests == [DEV]


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(klue_server, tmp_path, monkeypatch):
    server, url = klue_server
    monkeypatch.setenv(URL_ENV, f"{url}/altered")
    dest = tmp_path / "klue_re"
    with pytest.raises(FetchError) as error:
        fetch_klue_re(dest)
    (line,) = str(error.value).splitlines()
    assert line.startswith(f"{url}/altered/{DEV}: sha256 ") and "is not the official" in line
    assert _listing(dest) == [RELATIONS]  # fetched and verified before; no dev, no .part
    assert server.requests == [RELATIONS, DEV]  # stopped there: train never asked for


def test_a_connection_cut_mid_file_leaves_no_file_and_the_next_run_finishes(
    klue_server, klue_dir, tmp_path, monkeypatch
):
    server, url = klue_server
    monkeypatch.setenv(URL_ENV, f"{url}/cut")
    dest = tmp_path / "klue_re"
    size = (klue_dir / TRAIN).stat().st_size
    with pytest.raises(FetchError, match=f"closed after {size // 2:,} of {size:,} bytes"):
        fetch_klue_re(dest)
    assert _listing(dest) == sorted([RELATIONS, DEV])  # no train file, whole or partial
    server.requests.clear()
    monkeypatch.setenv(URL_ENV, f"{url}/good")
    assert fetch_klue_re(dest) == [TRAIN] and server.requests == [TRAIN]


def test_a_server_that_is_down_fails_fast_saying_how_to_place_the_files(tmp_path, monkeypatch):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    monkeypatch.setenv(URL_ENV, down)
    dest = tmp_path / "klue_re"
    started = time.monotonic()
    with pytest.raises(FetchError) as error:
        fetch_klue_re(dest)
    assert time.monotonic() - started < 5  # one attempt, no retry loop
    (line,) = str(error.value).splitlines()
    assert f"{down}/{RELATIONS} did not answer" in line  # what it tried
    assert f"place {RELATIONS}, {DEV}, {TRAIN}" in line and f"in {dest} by hand" in line
    assert "KLUE_RE_DIR" in line
    assert _listing(dest) == []


def _scratch_settings(tmp_path: Path, **data) -> TrialSettings:
    return TrialSettings.model_validate(
        {
            "model": {"name_or_path": "scratch", "scratch": {"vocab_size": 1000}},
            "data": {"cache_dir": str(tmp_path / "cache"), "train_subsample": 300,
                     "dev_subsample": 100, **data},
        }
    )  # fmt: skip


def test_the_data_step_fetches_into_the_user_cache_when_no_folder_is_named(
    klue_server, tmp_path, monkeypatch
):
    server, url = klue_server
    monkeypatch.delenv("KLUE_RE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(URL_ENV, f"{url}/good")
    settings = _scratch_settings(tmp_path)
    folder = tmp_path / "xdg" / "klue-loss-sweep" / "klue_re"
    assert settings.data.downloads() and settings.data.resolved_dir() == folder
    prepared = prepare_data(settings)
    assert prepared.source_files["train"] == (str(folder / TRAIN), SHA256[TRAIN])
    assert sorted(server.requests) == sorted([RELATIONS, DEV, TRAIN])
    server.requests.clear()
    assert prepare_data(settings).fingerprint == prepared.fingerprint
    assert server.requests == []  # the second run downloads nothing


@pytest.mark.parametrize("named_by", ["KLUE_RE_DIR", "data.dir"])
def test_a_named_folder_without_the_files_is_an_error_not_a_download(
    klue_server, tmp_path, monkeypatch, named_by
):
    server, url = klue_server
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(URL_ENV, f"{url}/good")
    if named_by == "KLUE_RE_DIR":
        monkeypatch.setenv("KLUE_RE_DIR", str(empty))
        settings = _scratch_settings(tmp_path)
    else:
        monkeypatch.delenv("KLUE_RE_DIR", raising=False)
        settings = _scratch_settings(tmp_path, dir=str(empty))
    assert not settings.data.downloads()
    with pytest.raises(DataError) as error:
        prepare_data(settings)
    (line,) = str(error.value).splitlines()
    assert line.startswith(f"{empty / TRAIN}: file not found")
    assert f"python -m trainable.data fetch --dest {empty}" in line
    assert server.requests == [] and _listing(empty) == [] and _listing(tmp_path / "xdg") == []


def test_the_fetch_command_puts_the_files_where_asked(klue_server, tmp_path, capsys):
    server, url = klue_server
    dest = tmp_path / "somewhere" / "klue"
    done = subprocess.run(
        [sys.executable, "-m", "trainable.data", "fetch", "--dest", str(dest)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, URL_ENV: f"{url}/good"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"saved in {dest}" in done.stdout and LICENSE in done.stdout
    assert _listing(dest) == sorted([RELATIONS, DEV, TRAIN])
    server.requests.clear()
    assert data_main(["fetch", "--dest", str(dest)]) == 0  # run again: nothing to download
    assert f"already in {dest}" in capsys.readouterr().out and server.requests == []


def test_the_fetch_command_offline_says_why_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{free_port()}")
    dest = tmp_path / "klue"
    assert data_main(["fetch", "--dest", str(dest)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: cannot download KLUE RE v1.1: ") and "by hand" in line
    assert _listing(dest) == []
