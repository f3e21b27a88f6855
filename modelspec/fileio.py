"""Atomic file writes: a temporary file in the same directory, then `os.replace`.

A reader (or a crash at any moment) sees either the old file or the new one, never half.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes `data` to `path` atomically (creating parent directories)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), _file_mode())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _file_mode() -> int:
    """0o666 minus the process's umask: what `open()` would give a new file (mkstemp makes
    0600 files, which other users of a shared run directory could not read)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def remove_leftovers(directory: str | os.PathLike[str]) -> list[Path]:
    """Removes the temporary files and directories of writes a kill cut short
    (`.<name>.<random>.tmp`, `.<name>-<random>.tmp`, `.final.tmp`) directly in `directory`.

    Call it only where no other process writes at the same time (under the run lock).

    Returns:
        The paths removed.
    """
    removed: list[Path] = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for child in directory.iterdir():
        if child.name.startswith(".") and child.name.endswith(".tmp"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            removed.append(child)
    return removed


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Writes `text` (UTF-8) to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def replace_dir(tmp: str | os.PathLike[str], final: str | os.PathLike[str]) -> Path:
    """Moves the filled directory `tmp` to `final`, replacing what is there.

    POSIX cannot rename a directory over a non-empty one, so the old one is first renamed to
    `.<name>.old` next to it and removed after the swap. A kill between the two renames leaves
    `final` missing and `.<name>.old` complete: `restore_dir(final)` puts it back.
    """
    tmp, final = Path(tmp), Path(final)
    old = final.parent / f".{final.name}.old"
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


def restore_dir(final: str | os.PathLike[str]) -> bool:
    """Undoes a `replace_dir` cut between its two renames; True when it restored `final`."""
    final = Path(final)
    old = final.parent / f".{final.name}.old"
    if not final.exists() and old.is_dir():
        os.replace(old, final)
        return True
    return False
