"""The chaos bench end to end in its quick form: a fault-free sweep, then a driver, a worker
and an MLflow server SIGKILLed at seeded random moments of real sweeps, each checked against the
fault-free one (``bench/chaos.py``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow


def test_quick_chaos_injects_three_faults_and_finds_no_violation(tmp_path, klue_dir):
    command = [sys.executable, "bench/chaos.py", "--quick", "--seed", "7", "--out", str(tmp_path)]
    bench = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)  # fmt: skip
    try:
        output, _ = bench.communicate(timeout=900)
    finally:  # the sweeps, Ray and the MLflow server are in the bench's session: stop them all
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
    result = json.loads((tmp_path / "chaos.json").read_text())
    kinds = result["kinds"]
    violations = [v for total in kinds.values() for v in total["violations"]]
    assert bench.returncode == 0 and not violations, violations or output[-4000:]
    assert result["seed"] == 7
    assert set(kinds) == {"driver", "worker", "mlflow", "node", "report"}
    assert all(set(total) == {"injected", "survived", "violations"} for total in kinds.values())
    assert sum(total["injected"] for total in kinds.values()) >= 3
    for kind in ("driver", "worker", "mlflow"):
        assert kinds[kind]["survived"] == kinds[kind]["injected"] >= 1, kind
    assert "fault    injected survived violations" in output
