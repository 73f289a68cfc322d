"""bench/race_simulation.py: the command docs/statistics.md shows, in its quick mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_mode_prints_the_error_table_the_operating_characteristics_and_the_pooled_check():
    command = [sys.executable, "bench/race_simulation.py", "--quick"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    out = done.stdout
    assert out.startswith("200 draws per setting; margin 2 seed sd; looks [3, 5, 7, 10]")
    assert "Worst false-claim rate: " in out
    assert "| **mix** (mean of the above) | race 3,5,7,10 |" in out
    assert "| **mix** (mean of the above) | today, fixed 5 |" in out
    assert "pooled two-way-ANOVA variance" in out


def test_bad_draw_count_exits_2():
    command = [sys.executable, "bench/race_simulation.py", "--draws", "0"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (2, "error: --draws must be >= 1, but got 0\n")
