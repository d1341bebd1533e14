"""The local data cache: where it lives, checksums and atomic writes.

The cache folder is ``$MTREC_DATA_HOME`` when that variable is set, else
``~/.cache/mtrec_lib``. Every file is written atomically (to a temporary file in
the same folder, then :func:`os.replace`), so an interrupted run leaves either
the old file or the new one, never half of one.

Examples
--------
>>> from mtrec_lib.data.cache import sha256_bytes
>>> sha256_bytes(b"abc")[:16]
'ba7816bf8f01cfea'
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "sha256_bytes", "sha256_file", "atomic_write_bytes", "atomic_write_json",
           "read_json"]

ENV_VAR = "MTREC_DATA_HOME"


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
