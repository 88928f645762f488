"""Small private files under VEIL_HOME that several processes share: a lock, an atomic write.

The key store and the audit log are written by every CLI call and, later, by each HTTP
worker: a read-modify-write without a lock loses a key or forks the audit chain, and a
write without fsync and an atomic rename can leave half a file after a crash.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_MODE = 0o600


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_path` (created 0600) for the block.

    flock is released by the kernel when the process dies, so a crashed writer never
    leaves a stale lock behind, unlike a lock file that exists-or-not.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (mode 0600) or leave it as it was: temp file, fsync, rename.

    Readers never see a half-written file; the directory is fsynced so the rename itself
    survives a power cut.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # an old temp file of a dead writer may have kept its mode
        write_all(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a single call may write fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
