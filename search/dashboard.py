"""``make dashboard``: a sweep's Optuna study in optuna-dashboard, read-only, on 127.0.0.1.

optuna-dashboard serves its study read-write to whoever reaches the port (``DELETE
/api/studies/1`` deletes it): any local process, or a web page in the user's browser whose host
name resolves to 127.0.0.1 (DNS rebinding). So the study is opened through a read-only SQLite
URI, only ``GET`` and ``HEAD`` are served (every write of the dashboard is a POST, PUT or
DELETE), and only to requests whose ``Host`` names this loopback address.

``python -m search.dashboard STUDY_DB [--port 8080]``. Exit codes: 0 stopped, 2 no such study
file, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from trainable.common.cli import InputError, run_cli

HOST = "127.0.0.1"
READS = ("GET", "HEAD")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def read_only_storage_url(study_db: Path) -> str:
    """SQLite opens the file read-only (``mode=ro``): a write fails in the database itself."""
    return f"sqlite:///file:{study_db.resolve()}?mode=ro&uri=true"


def guarded(app: WsgiApp, port: int) -> WsgiApp:
    """``app`` answering reads only, and only to a ``Host`` of this loopback address."""
    hosts = {f"{HOST}:{port}", f"localhost:{port}"}

    def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_HOST", "") not in hosts:
            return _refuse(start_response, "403 Forbidden", "unknown Host\n")
        if environ["REQUEST_METHOD"] not in READS:
            return _refuse(start_response, "405 Method Not Allowed", "read-only dashboard\n")
        return app(environ, start_response)

    return guard


def _refuse(start_response: Callable[..., Any], status: str, why: str) -> list[bytes]:
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Allow", ", ".join(READS))]
    start_response(status, headers)
    return [why.encode()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m search.dashboard", description="A sweep's Optuna study, read-only."
    )
    parser.add_argument("study_db", type=Path, help="<storage.path>/<experiment.name>/optuna.db")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (8080)")
    args = parser.parse_args(argv)
    return run_cli(lambda: _serve(args.study_db, args.port), interrupted="dashboard stopped")


def _serve(study_db: Path, port: int) -> None:
    if not study_db.is_file():
        raise InputError(f"no Optuna study at {study_db}")
    import optuna_dashboard  # the web app loads only once the input is known to be good
    from optuna.storages import RDBStorage

    storage = RDBStorage(read_only_storage_url(study_db))
    app = guarded(optuna_dashboard.wsgi(storage), port)
    print(f"optuna-dashboard (read-only) on http://{HOST}:{port}/dashboard", flush=True)
    with make_server(HOST, port, app, handler_class=WSGIRequestHandler) as server:
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
