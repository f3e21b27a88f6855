"""Environment failures: operating-system errors turned into clean messages (exit 5).

Disk full, a read-only file system, a permission refused, `--output` under a regular file,
a file-size limit (`ulimit -f`): these reach modelspec as `OSError`s — or wrapped by the
libraries that did the writing (h5py puts the errno in its message, TensorFlow raises its own
error types with the C library's text). `environment_failure(exc)` recognises them anywhere in
an exception's chain and returns an `EnvironmentFailure` naming the path and the cause, so
that the CLI never calls them "a bug in modelspec".

Example:
>>> environment_failure(OSError(28, "No space left on device", "runs/x/state.json"))
EnvironmentFailure('cannot write runs/x/state.json: no space left on device (ENOSPC) — ...')
"""

from __future__ import annotations

import errno
import re
import signal
from collections.abc import Iterator

from modelspec.errors import EnvironmentFailure

# errno → what the user can do about it
REMEDIES = {
    errno.ENOSPC: "free some disk space or choose another --output",
    errno.EDQUOT: "free some space within your disk quota or choose another --output",
    errno.EROFS: "choose an --output on a writable file system",
    errno.EACCES: "check the permissions of the path or choose another --output",
    errno.EPERM: "check the permissions of the path or choose another --output",
    errno.ENOTDIR: "a part of the path is a regular file, not a directory; choose another "
                   "--output",
    errno.EISDIR: "the path is a directory; name a file",
    errno.EFBIG: "a file-size limit stopped the write (ulimit -f); raise it or write less",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.EIO: "the storage reported an I/O error; check the disk",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
    errno.ENFILE: "too many open files on the system",
}
_TEXTS = {code: __import__("os").strerror(code) for code in REMEDIES}
_FILENAMES = (re.compile(r"name = '([^']+)'"),  # h5py
              re.compile(r"^([^\s;:]+/[^\s;:]+)[;:]"),  # TensorFlow: "path; strerror"
              re.compile(r"(?<![\w./])(/[^\s;:'\",(){}]+)"))  # any absolute path named


def _errno_of(exc: BaseException) -> int | None:
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in REMEDIES:
        return code
    text = str(exc)
    match = re.search(r"errno = (\d+)", text)  # h5py: "... (unable to open file: errno = 28"
    if match and int(match.group(1)) in REMEDIES:
        return int(match.group(1))
    for code, strerror in _TEXTS.items():  # TensorFlow: the C library's text only
        if strerror in text:
            return code
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and its causes / contexts, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def environment_failure(exc: BaseException) -> EnvironmentFailure | None:
    """An `EnvironmentFailure` for an OS-level failure anywhere in `exc`'s chain, else None."""
    for item in _chain(exc):
        code = _errno_of(item)
        if code is None:
            continue
        path = getattr(item, "filename", None)
        for pattern in _FILENAMES if not path else ():
            match = pattern.search(str(item))
            if match:
                path = match.group(1)
                break
        if path:
            where = f"cannot write {path}"
        else:  # the library's own words, which usually name the file
            said = (str(item).strip().splitlines() or [""])[0]
            useful = said and said.lower() != _TEXTS[code].lower()
            where = "a file operation failed" + (f" ({said[:160]})" if useful else "")
        return EnvironmentFailure(f"{where}: {_TEXTS[code].lower()} ({errno.errorcode[code]})"
                                  f" — {REMEDIES[code]}")
    return None


def report_file_size_limits() -> None:
    """Makes a file-size limit a write error (EFBIG) instead of a signal that kills the
    process (SIGXFSZ's default action), so that it is reported like any other."""
    if hasattr(signal, "SIGXFSZ"):
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
