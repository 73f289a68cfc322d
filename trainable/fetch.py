"""The official KLUE RE v1.1 files, downloaded on first use and verified byte for byte.

A fresh clone has no KLUE files. When no folder is named (neither ``data.dir`` nor
``$KLUE_RE_DIR``), the data step fetches them into the user's cache (``DataSettings.downloads``);
``python -m trainable.data fetch --dest DIR`` puts them anywhere. Every file is streamed into a
temporary file beside its destination, checked against the sha256 of the official bytes, and
only then renamed into place: an interrupted, cut or altered download never leaves a file that
looks complete. Files already there with the right hash are not downloaded again. Each file gets
one attempt with a bounded timeout and no retry loop, so offline the error comes in seconds and
says how to place the files by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from trainable.records import DataError

KLUE_COMMIT = "3efd98708a40ff49251fddde35453f8fbb11f536"
KLUE_SOURCE = f"KLUE-benchmark/KLUE@{KLUE_COMMIT[:7]}, klue_benchmark/klue-re-v1.1/"
OFFICIAL_URL = f"https://raw.githubusercontent.com/KLUE-benchmark/KLUE/{KLUE_COMMIT}/klue_benchmark/klue-re-v1.1"
URL_ENV = (
    "KLUE_RE_URL"  # replaces OFFICIAL_URL (everything before /<file>): a mirror, a test server
)
LICENSE = "CC BY-SA 4.0"
# The official bytes: KLUE's tree at KLUE_COMMIT records git blob ids that these files reproduce.
# Smallest first, so a wrong source is found before the 22 MB train file.
SHA256 = {
    "relation_list.json": "74b9b50540891b21711418a996d3fe3adb92d5d904c6e7c7f4fa7d16be83ed13",
    "klue-re-v1.1_dev.json": "d150873430e592a5c569d35b20d88fbbbfba751dae0ffa4d8cbfb6b7321dea14",
    "klue-re-v1.1_train.json": "10101fa3059b340f9971286dd5639daccb5889324182aed31679f038bca05bc4",
}
TIMEOUT_S = 10.0  # to connect, and for each read: a dead network or server fails in seconds
CHUNK_BYTES = 1 << 16


class FetchError(DataError):
    """The files could not be fetched or verified; nothing incomplete was left behind."""


def source_url() -> str:
    """``$KLUE_RE_URL`` when set, else the KLUE repository at the pinned commit."""
    return os.environ.get(URL_ENV, "").rstrip("/") or OFFICIAL_URL


def fetch_klue_re(dest: Path, names: Iterable[str] = SHA256) -> list[str]:
    """Make ``dest`` hold the official files among ``names`` (other names are not ours to
    fetch); return those downloaded, empty when every one was already there and intact."""
    wanted = set(names)
    missing = [name for name in SHA256 if name in wanted and not _intact(dest / name)]
    if not missing:
        return []
    base = source_url()
    print(f"downloading KLUE RE v1.1 from {base} into {dest} ...", flush=True)
    for name in missing:
        _download(f"{base}/{name}", dest / name, missing)
    print(
        f"KLUE RE v1.1 ({', '.join(missing)}) saved in {dest}, sha256 verified. License: "
        f"{LICENSE} ({KLUE_SOURCE}; Park et al., arXiv:2105.09680)",
        flush=True,
    )
    return missing


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _intact(path: Path) -> bool:
    try:
        return file_sha256(path) == SHA256[path.name]
    except OSError:  # absent or unreadable: fetch it
        return False


def _download(url: str, target: Path, missing: list[str]) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it only once verified."""
    partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")  # never the file
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("xb") as out:  # the umask's mode, as any file the user writes
            digest = _stream(url, out, target, missing)
            out.flush()
            os.fsync(out.fileno())
        if digest != SHA256[target.name]:
            raise FetchError(
                f"{url}: sha256 {digest[:16]}… is not the official {SHA256[target.name][:16]}…; "
                f"refused, nothing kept (is {URL_ENV} a faithful mirror?)"
            )
        partial.replace(target)
    except OSError as error:
        raise FetchError(f"{target}: cannot write ({error})") from None
    finally:
        partial.unlink(missing_ok=True)  # after a failure or an interrupt; gone once renamed


def _stream(url: str, out: BinaryIO, target: Path, missing: list[str]) -> str:
    """Copy the body into ``out`` under a progress bar; the body's sha256. A body shorter than
    its Content-Length (a cut connection) is an error, not a short file."""
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        raise FetchError(
            f"{url}: HTTP {error.code} {error.reason}. {_by_hand(target, missing)}"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise FetchError(
            f"cannot download KLUE RE v1.1: {url} did not answer ({reason}). "
            f"{_by_hand(target, missing)}"
        ) from None
    digest, received = hashlib.sha256(), 0
    total = int(response.headers.get("Content-Length") or 0) or None
    with (
        response,
        tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name) as bar,
    ):
        while chunk := _read(response, url, received, total):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received != total:
        raise FetchError(
            f"{url}: the connection closed after {received:,} of {total:,} bytes; "
            "nothing kept, run again"
        )
    return digest.hexdigest()


def _read(response: http.client.HTTPResponse, url: str, received: int, total: int | None) -> bytes:
    try:
        return response.read(CHUNK_BYTES)
    except (OSError, http.client.HTTPException) as error:
        expected = f"{total:,}" if total is not None else "?"
        raise FetchError(
            f"{url}: the connection broke after {received:,} of {expected} bytes "
            f"({error or type(error).__name__}); nothing kept, run again"
        ) from None


def _by_hand(target: Path, missing: list[str]) -> str:
    return (
        f"Offline, place {', '.join(missing)} ({KLUE_SOURCE}) in {target.parent} by hand, "
        "or set KLUE_RE_DIR to their folder"
    )
