"""The local data cache: where it lives, checksums and atomic writes.

The cache folder is ``$MTREC_DATA_HOME`` when that variable is set, else
``~/.cache/mtrec_lib``. Every file is written atomically (to a temporary file in
the same folder, then :func:`os.replace`), so an interrupted run leaves either
the old file or the new one, never half of one.

It also holds the two ways the dataset loaders fetch files: :func:`download_bytes`
(one URL, short timeout, a tqdm progress bar on stderr) and :func:`pip_download`
(one distribution from PyPI with ``pip download --no-deps``, nothing installed), and
:func:`fetch_first`, which tries a loader's sources in order and says why each failed.

Examples
--------
>>> from mtrec_lib.data.cache import sha256_bytes
>>> sha256_bytes(b"abc")[:16]
'ba7816bf8f01cfea'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "cache_dir",
    "sha256_bytes",
    "sha256_file",
    "atomic_write_bytes",
    "atomic_write_json",
    "read_json",
    "download_bytes",
    "pip_download",
    "fetch_first",
    "DataIntegrityError",
]

logger = logging.getLogger(__name__)

ENV_VAR = "MTREC_DATA_HOME"


class DataIntegrityError(RuntimeError):
    """A downloaded or cached file does not match its expected checksum."""


# What a failed source raises: an unreachable host, a bad archive, a failed pip, wrong content.
FETCH_ERRORS = (
    OSError,
    urllib.error.URLError,
    RuntimeError,
    zipfile.BadZipFile,
    tarfile.TarError,
    KeyError,
    ValueError,
)


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache folder (created if missing).

    Parameters
    ----------
    path : path-like, optional
        Use this folder. Default: ``$MTREC_DATA_HOME`` or ``~/.cache/mtrec_lib``.
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or Path.home() / ".cache" / "mtrec_lib"
    folder = Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached data are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; ``None`` if it is missing or not valid JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def download_bytes(url: str, *, timeout: float, desc: str, progress: bool = True) -> bytes:
    """Fetch ``url`` into memory, showing a tqdm byte counter on stderr when ``progress``.

    ``timeout`` (seconds) applies to connecting and to each read, so an unreachable
    host fails within it. Network errors propagate (:class:`urllib.error.URLError`,
    :class:`OSError`); the caller verifies what it got.
    """
    from tqdm import tqdm

    logger.info("downloading %s (timeout %.0f s)", url, timeout)
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        buf = bytearray()
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
            while chunk := resp.read(1 << 16):
                buf += chunk
                bar.update(len(chunk))
    logger.info("downloaded %s: %d bytes", url, len(buf))
    return bytes(buf)


def pip_download(requirement: str, dest: str | os.PathLike[str], *, binary: bool, sha256: str | None = None) -> Path:
    """Download one distribution from PyPI into ``dest`` with ``pip download --no-deps``.

    Nothing is installed into the running environment. ``binary=True`` takes a wheel
    only (``--only-binary=:all:``); ``binary=False`` an sdist only
    (``--no-binary=:all:``). For an sdist pip still prepares its metadata, which runs
    the package's ``setup.py`` in a temporary build environment; pass ``sha256`` so
    that pip checks the file (hash-checking mode, ``--require-hashes``) before it runs
    anything from it. pip's own output is captured and logged at DEBUG level.

    Parameters
    ----------
    requirement : str
        A pinned requirement, e.g. ``"recbole==1.2.1"``.
    dest : path-like
        Folder to download into (created if missing).
    binary : bool
        Wheel (True) or sdist (False).
    sha256 : str, optional
        Expected SHA-256 of the file; pip refuses any other file.

    Returns
    -------
    pathlib.Path
        The downloaded file.

    Raises
    ------
    RuntimeError
        pip failed (no network, no such version, hash mismatch) or saved no file.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--only-binary=:all:" if binary else "--no-binary=:all:",
        "-d",
        str(dest),
    ]
    with tempfile.TemporaryDirectory(prefix="mtrec_pip_") as tmp:
        if sha256:
            req_file = Path(tmp) / "requirements.txt"
            req_file.write_text(f"{requirement} --hash=sha256:{sha256}\n", encoding="utf-8")
            cmd += ["--require-hashes", "-r", str(req_file)]
        else:
            cmd.append(requirement)
        logger.info("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
    logger.debug("pip stdout:\n%s\npip stderr:\n%s", proc.stdout, proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{proc.stderr.strip()[-2000:]}")
    new = sorted(p for p in set(dest.iterdir()) - before if p.is_file())
    if not new:
        # pip reuses a file already in dest ("File was already downloaded"): find it by name
        stem = requirement.split("==")[0].replace("-", "_").lower()
        new = sorted(p for p in dest.iterdir() if p.is_file() and p.name.replace("-", "_").lower().startswith(stem))
    if not new:
        raise RuntimeError(f"pip download of {requirement} saved no file in {dest}.")
    return new[0]


def fetch_first(name: str, routes: Sequence[str], fetch: Callable[[str], Any], fix: str) -> tuple[str, Any]:
    """Return ``(route, fetch(route))`` for the first of ``routes`` that works.

    A route that fails is logged and the next one tried. When none works, the error
    lists why each failed: :class:`DataIntegrityError` if every route gave data
    failing its checksum, else ``RuntimeError`` ending with ``fix``.

    Examples
    --------
    >>> def fetch(route):
    ...     if route == "mirror":
    ...         raise OSError("host unreachable")
    ...     return b"data"
    >>> fetch_first("toy", ["mirror", "pypi"], fetch, fix="connect to PyPI")
    ('pypi', b'data')
    >>> fetch_first("toy", ["mirror"], fetch, fix="connect to PyPI")
    Traceback (most recent call last):
    ...
    RuntimeError: Could not fetch toy. mirror: OSError: host unreachable | Fix: connect to PyPI
    """
    errors = []
    for route in routes:
        try:
            return route, fetch(route)
        except FETCH_ERRORS as exc:
            errors.append(f"{route}: {type(exc).__name__}: {exc}")
            more = "; trying the next source" if route != routes[-1] else ""
            logger.info("%s: %s failed (%s: %s)%s", name, route, type(exc).__name__, exc, more)
    if errors and all("DataIntegrityError" in e for e in errors):
        raise DataIntegrityError(f"{name}: " + "; ".join(errors))
    raise RuntimeError(f"Could not fetch {name}. " + " | ".join(errors) + f" | Fix: {fix}")
