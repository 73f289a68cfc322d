"""A package index for pip with torch's CPU wheel, for `docker build` on machines that cannot
reach PyTorch's index: docker/Dockerfile installs ``torch==<version>+<TORCH_CUDA>`` from
``${TORCH_INDEX}/${TORCH_CUDA}``; with TORCH_CUDA=cpu and TORCH_INDEX pointing here it gets the
wheel kept on disk (TORCH_WHEEL_DIR, default /opt/wheels) and the dependencies at
requirements.lock's pins, fetched once from PyPI.

    python -m tests.docker.torch_index FOLDER    # lay out FOLDER/cpu/<project>/<wheel>

The layout is what pip reads as a simple index (PEP 503) when a plain static server such as
``python -m http.server --bind 127.0.0.1`` serves FOLDER: a directory listing per project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.docker.helpers import lock_pin
from tests.helpers import REPO


def project(wheel: Path) -> str:
    """The normalized project name of a wheel file (PEP 503), its folder in the index."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-", 1)[0]).lower()


def download(dest: Path) -> None:
    """torch+cpu from the wheel folder and its dependencies at the lock's pins, as wheels."""
    wheels = os.environ.get("TORCH_WHEEL_DIR", "/opt/wheels")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
        "--find-links", wheels, "-c", str(REPO / "requirements.lock"),
        "--dest", str(dest), f"torch=={lock_pin('torch')}+cpu",
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=900)


def main(folder: str) -> None:
    index = Path(folder) / "cpu"
    if index.is_dir() and any(index.glob(f"torch/torch-{lock_pin('torch')}+cpu-*.whl")):
        print(f"torch_index: {index} (kept)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        download(Path(scratch))
        staged = Path(scratch) / "cpu"
        for wheel in sorted(Path(scratch).glob("*.whl")):
            (staged / project(wheel)).mkdir(parents=True, exist_ok=True)
            shutil.move(wheel, staged / project(wheel) / wheel.name)
        shutil.rmtree(index, ignore_errors=True)
        index.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged, index)
    print(f"torch_index: {index} ({len(list(index.iterdir()))} projects)")


if __name__ == "__main__":
    main(sys.argv[1])
