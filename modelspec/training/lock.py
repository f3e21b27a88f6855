"""A lock on a run directory: one `modelspec train` at a time per directory.

`fcntl.flock` on `<run>/.lock` (the kernel releases it when the process ends, even after
kill -9, so a stale lock never blocks a resume). A second process is refused at once with
`StateConflictError` (exit 4) naming the process that holds the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from modelspec.errors import StateConflictError

LOCK = ".lock"


@contextlib.contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Holds the lock of run directory `root` (created if needed) for the `with` block.

    When this call created the directory and the block fails leaving nothing but the lock
    file, the directory, and any parent created for it, is removed again (nothing written
    before the build succeeds).

    Raises:
        StateConflictError: Another process holds the lock.
    """
    root = Path(root)
    created = [d for d in (root, *root.parents) if not d.exists()]  # innermost first
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            raise StateConflictError(
                f"{root} is in use by another modelspec process (pid {holder}); wait for it "
                "to finish, or choose another --output") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        ok = False
        try:
            yield
            ok = True
        finally:
            if not ok and created and [p.name for p in root.iterdir()] == [LOCK]:
                (root / LOCK).unlink()
                for directory in created:  # the run directory, then the parents it needed
                    try:
                        directory.rmdir()
                    except OSError:  # not empty: something else lives there now
                        break
    finally:
        os.close(fd)
