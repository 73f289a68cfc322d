"""How every entry point ends: the one place that maps what happened to an exit code.

Bad input (a config, data, a model that cannot load, an MLflow store that does not answer) is
the user's to fix: one redacted ``error: ...`` line and exit 2, never a traceback. An interrupt
(Ctrl-C, or a run that stopped before its end) says what was kept and exits 130. Anything else
is a bug in this service and keeps its traceback, which a single line would hide.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from trainable.common.redact import print_error

BAD_INPUT, INTERRUPTED = 2, 130


class InputError(Exception):
    """Input the user must fix; its text is the one line printed (several for a config)."""


class Interrupted(Exception):
    """The work stopped before its end (Ctrl-C reached Tune, which returned early)."""


def run_cli(command: Callable[[], int | None], *, interrupted: str) -> int:
    """Run ``command`` (the parsed command line already bound); return its exit code.
    ``interrupted`` says what an interrupt left behind, e.g. "finished trials are kept"."""
    try:
        return command() or 0
    except InputError as error:
        print_error(error)
        return BAD_INPUT
    except (Interrupted, KeyboardInterrupt):
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return INTERRUPTED
