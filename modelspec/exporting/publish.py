"""Versioned, atomic publishing of export directories (no TensorFlow needed).

TensorFlow Serving watches a *base directory* and serves its children whose names parse as
64-bit integers (`safe_strto64` in `file_system_storage_path_source.cc`): `1/`, `2/`, ...
Every other name is ignored, so an export is assembled in a *staging* directory named
`.tmp-export-<random>` inside the base directory (same file system, invisible to Serving),
checked, and then renamed to `<N>/` in one `rename(2)`: Serving either sees a complete
version or none.

`N` is one more than the highest existing version. An existing version is never replaced,
empty or not: on Linux the rename uses `renameat2(RENAME_NOREPLACE)`, so a concurrent exporter
that took `N` first makes the rename fail with `EEXIST` and the next number is tried. Where
`renameat2` is unavailable the target is checked just before `os.rename` (a plain `rename` would
silently replace an *empty* directory).

Example:
>>> staging = make_staging_dir("exports/lenet5")
>>> ...  # write staging / "version" and check it
>>> publish(staging / "version", "exports/lenet5")
PosixPath('exports/lenet5/1')
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

STAGING_PREFIX = ".tmp-export-"
_VERSION_RE = re.compile(r"^\s*[+-]?\d+\s*$")  # what TF Serving's safe_strto64 accepts
_INT64_MAX = 2**63 - 1
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def version_of(name: str) -> int | None:
    """Returns the version number TF Serving reads from a child name, or None.

    Args:
        name: A directory entry name such as `"3"` or `".tmp-export-ab12"`.

    Returns:
        The integer version, or None when Serving would ignore the entry.

    Example:
    >>> version_of("12"), version_of(".tmp-export-x")
    (12, None)
    """
    if not _VERSION_RE.match(name):
        return None
    value = int(name.strip())
    return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else None


def existing_versions(base_dir: str | os.PathLike[str]) -> list[int]:
    """Returns the sorted version numbers present in `base_dir` (empty when it does not exist)."""
    base = Path(base_dir)
    if not base.is_dir():
        return []
    found = (version_of(entry.name) for entry in base.iterdir())
    return sorted(v for v in found if v is not None)


def next_version(base_dir: str | os.PathLike[str]) -> int:
    """Returns 1 + the highest existing version in `base_dir` (1 when there is none)."""
    versions = existing_versions(base_dir)
    return max(max(versions) + 1, 1) if versions else 1


def latest_version_dir(base_dir: str | os.PathLike[str]) -> Path | None:
    """Returns the directory of the highest version in `base_dir`, or None."""
    base = Path(base_dir)
    best = None
    for entry in base.iterdir() if base.is_dir() else ():
        version = version_of(entry.name)
        if version is not None and entry.is_dir() and (best is None or version > best[0]):
            best = (version, entry)
    return best[1] if best else None


def make_staging_dir(base_dir: str | os.PathLike[str]) -> Path:
    """Creates (and returns) a fresh staging directory inside `base_dir`, creating `base_dir`.

    The name starts with `.tmp-export-<pid>-`, which TF Serving never takes for a version;
    staging directories that a killed export left behind are removed first
    (`remove_stale_staging`). The directory gets the user's umask (mkdtemp makes it 0700).
    """
    base = Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(base)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=base))
    mask = os.umask(0)
    os.umask(mask)
    staging.chmod(0o777 & ~mask)
    return staging


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_staging(base_dir: str | os.PathLike[str], max_age: float = 86_400.0) -> list[Path]:
    """Removes the staging directories of exports that are no longer running: those whose
    process (the pid in the name) has ended, and unnamed ones older than `max_age` seconds.
    Staging directories of running exports (concurrent ones included) are left alone."""
    import time
    removed = []
    for child in Path(base_dir).iterdir():
        if not child.name.startswith(STAGING_PREFIX) or not child.is_dir():
            continue
        pid = child.name[len(STAGING_PREFIX):].split("-", 1)[0]
        stale = (not _alive(int(pid))) if pid.isdigit() else \
            time.time() - child.stat().st_mtime > max_age
        if stale:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


def remove_tree(path: str | os.PathLike[str] | None) -> None:
    """Removes a directory tree if it exists (used to clean up after failures)."""
    if path is not None and Path(path).exists():
        shutil.rmtree(path, ignore_errors=True)


def _libc_renameat2() -> Any:  # the C function renameat2, or None where libc lacks it
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                     ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_RENAMEAT2 = _libc_renameat2()


def rename_no_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Renames `src` to `dst`, failing with FileExistsError when `dst` exists.

    Uses `renameat2(RENAME_NOREPLACE)` when the platform has it, so the check and the rename
    are one atomic step.

    Raises:
        FileExistsError: `dst` exists (a file or a directory, empty or not).
        OSError: Any other failure of the rename.
    """
    if _RENAMEAT2 is not None:
        result = _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                            _RENAME_NOREPLACE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(dst))
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(src))
        # The file system does not support the flag: fall through to check-then-rename.
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def publish(ready_dir: str | os.PathLike[str], base_dir: str | os.PathLike[str],
            attempts: int = 1000) -> Path:
    """Renames a complete, checked directory to the next free version `base_dir/<N>`.

    Args:
        ready_dir: The finished export, on the same file system as `base_dir`.
        base_dir: The directory TF Serving watches.
        attempts: How many numbers to try when concurrent exporters take them first.

    Returns:
        The published version directory.

    Raises:
        FileExistsError: No free number was found within `attempts` tries.
    """
    base = Path(base_dir)
    version = next_version(base)
    for _ in range(attempts):
        target = base / str(version)
        try:
            rename_no_replace(ready_dir, target)
            return target
        except FileExistsError:
            version = max(version + 1, next_version(base))
    raise FileExistsError(errno.EEXIST, f"no free version number in {base} after "
                          f"{attempts} attempts", str(base))
