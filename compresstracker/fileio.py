"""File helpers below every room: atomic writes (a killed process leaves the old file or the new one,
never a torn one), content hashes, and exclusive folder locks (two processes never write into one
output folder at once)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from compresstracker.errors import ConfigError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the result the usual umask mode
            os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class FolderBusy(OSError):
    """Another process holds the lock of a folder."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` for the block; FolderBusy at once if another process holds it.

    The lock is taken on the folder itself (``flock`` on its descriptor): it writes no file, and
    the kernel releases it when the holder dies, so a killed run never leaves a stale lock.
    """
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusy(f"another process is writing to {folder}") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_name(name: str, what: str) -> str:
    """``name`` if it is one plain path component (it becomes a file or folder name), else a ConfigError.

    Refused: empty, ``.``/``..``, separators, NUL, a leading ``~`` or ``-``: such a name would
    write outside its folder or read as an option.
    """
    bad = (not name or name in (".", "..") or any(c in name for c in ("/", "\\", "\0"))
           or name[0] in "~-" or name != name.strip())
    if bad:
        raise ConfigError(f"{what} {name!r} is not a plain name (one path component: no '/', '..', leading '-' or '~')")
    return name
