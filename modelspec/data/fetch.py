"""Data sets by their public origin: fetched once, verified, cached, then read offline.

A file source (`idx`, `csv`, `text`, `cifar`, ...) with a `download:` mapping names its data
set and the origin of each file (URL and the sha256 the origin publishes, or `unpublished`):

```yaml
source:
  type: idx
  download:
    name: mnist
    files:
      - {url: https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz,
         sha256: 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609}
  images: {train: train-images-idx3-ubyte.gz}
```

The source's paths are then relative to the data set's folder, found in this order:

1. **A local copy**: `<data dir>/<name>/`, where the data dir is `--data-dir` or the
   environment variable `MODELSPEC_DATA_DIR`. It holds the files as the source reads them
   (archives extracted) and is used as given, never downloaded into: it is the user's own
   copy (e.g. carried from a machine with internet, or repackaged). A file whose origin
   publishes a sha256 is compared with it and a note on stderr says when they differ.
2. **The Keras cache**: `$KERAS_HOME/datasets/<name>/` (default `~/.keras/datasets/<name>/`),
   filled by `keras.utils.get_file`, which downloads, checks the sha256 and extracts
   archives. modelspec only stages each download in a temporary folder of the cache and
   renames it into place once Keras accepted it, because `get_file` itself leaves a file
   whose checksum failed in its cache and re-extracts an archive on every call. A cached
   file with a published sha256 is checked again on every use.

Downloads time out after `FETCH_TIMEOUT` seconds without an answer (urllib's socket timeout),
so that a machine without network stops at once with a positioned error naming the data set,
the URL and where a local copy goes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from modelspec.errors import Collector

DATA_DIR_ENV = "MODELSPEC_DATA_DIR"
UNPUBLISHED = "unpublished"
FETCH_TIMEOUT = 15.0
DOWNLOAD = ("data", "source", "download")

_data_dir_override: Path | None = None


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set at its public origin.

    Attributes:
        url: Where the origin serves it.
        sha256: The sha256 the origin (or TFDS/Keras, recording it) publishes; None when
            no checksum is published (`sha256: unpublished` in the spec).
        fname: The file's name in the data set's folder (default: the URL's last part).
        extract: True for an archive (tar, tar.gz, zip) whose members the source reads.
    """

    url: str
    sha256: str | None
    fname: str
    extract: bool = False


@dataclass(frozen=True)
class Download:
    """A data set's name (its folder) and its files."""

    name: str
    files: tuple[RemoteFile, ...]

    @classmethod
    def from_spec(cls, section: dict) -> Download:
        """Builds the configuration from a resolved `download:` mapping."""
        files = tuple(
            RemoteFile(url=f["url"], extract=bool(f.get("extract", False)),
                       sha256=None if f["sha256"] == UNPUBLISHED else f["sha256"].lower(),
                       fname=f.get("fname") or url_name(f["url"]))
            for f in section["files"])
        return cls(name=section["name"], files=files)


def url_name(url: str) -> str:
    """The file name at the end of a URL's path ('' when there is none)."""
    return os.path.basename(urlsplit(url).path)


def use_data_dir(path: str | os.PathLike | None) -> None:
    """Sets the folder of local copies for this process (`--data-dir`); None: the env var."""
    global _data_dir_override
    _data_dir_override = Path(path).expanduser() if path else None


@contextmanager
def using_data_dir(path: str | os.PathLike | None) -> Iterator[None]:
    """`use_data_dir(path)` for the duration of a command, then the previous setting."""
    global _data_dir_override
    saved = _data_dir_override
    use_data_dir(path)
    try:
        yield
    finally:
        _data_dir_override = saved


def data_dir() -> Path | None:
    """The folder of local copies: `--data-dir`, else `$MODELSPEC_DATA_DIR`, else None."""
    if _data_dir_override is not None:
        return _data_dir_override
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else None


def keras_datasets_dir() -> Path:
    """`keras.utils.get_file`'s cache folder: `$KERAS_HOME/datasets` or `~/.keras/datasets`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Prepared:
    """Where a data set's files are: its folder and which kind of copy it is."""

    folder: Path
    kind: str  # "local copy" or "Keras cache"


def prepare(download: Download, errs: Collector) -> Prepared:
    """Finds or fetches a data set's files; returns the folder the source's paths are under.

    Raises:
        SpecError: (through `errs`) when a file cannot be downloaded or fails its checksum.
    """
    local = data_dir()
    if local is not None and (local / download.name).is_dir():
        folder = local / download.name
        _check_local_copy(download, folder)
        return Prepared(folder, "local copy")
    folder = keras_datasets_dir() / download.name
    for remote in download.files:
        state = _cache_state(remote, folder)
        if state == "archive":  # the origin's archive, put there by hand: extract it
            _fetch(remote, (folder / remote.fname).as_uri(), folder, download, errs)
        elif state == "missing":
            _fetch(remote, remote.url, folder, download, errs)
    return Prepared(folder, "Keras cache")


def _check_local_copy(download: Download, folder: Path) -> None:
    """Says (on stderr, one line) when local files differ from the origin's published sha256."""
    differ = [remote.fname for remote in download.files
              if remote.sha256 and not remote.extract and (folder / remote.fname).is_file()
              and file_sha256(folder / remote.fname) != remote.sha256]
    if differ:
        print(f"note: local copy of data set '{download.name}' in '{folder}': "
              f"{', '.join(differ)} differ from the sha256 the origin publishes "
              "(a repackaged or modified copy); used as given", file=sys.stderr)


def _extracted_marker(remote: RemoteFile, folder: Path) -> Path:
    return folder / f".{remote.fname}.extracted"


def _cache_state(remote: RemoteFile, folder: Path) -> str:
    """'ready', 'archive' (a verified archive not extracted yet) or 'missing'."""
    path = folder / remote.fname
    if not path.is_file() or (remote.sha256 and file_sha256(path) != remote.sha256):
        return "missing"
    if remote.extract and not _extracted_marker(remote, folder).is_file():
        return "archive"
    return "ready"


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """urllib (under `get_file`) waits forever by default; bound every connect and read."""
    saved = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(saved)


def _fetch(remote: RemoteFile, origin: str, folder: Path, download: Download,
           errs: Collector) -> None:
    """Downloads one file with `keras.utils.get_file` into a staging folder, then renames.

    `origin` is the remote URL, or a `file:` URI of an archive already in the cache.
    """
    from keras.utils import get_file
    folder.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(folder)
    staging = Path(tempfile.mkdtemp(prefix=f".fetch-{os.getpid()}-", dir=folder))
    try:
        with _socket_timeout(FETCH_TIMEOUT):
            got = get_file(fname=remote.fname, origin=origin, file_hash=remote.sha256,
                           cache_dir=str(staging), cache_subdir="files",
                           extract=remote.extract)
        if remote.extract:  # members first: the archive's presence marks a complete fetch
            for member in Path(got).iterdir():
                _replace(member, folder / member.name)
            _extracted_marker(remote, folder).touch()
        os.replace(staging / "files" / remote.fname, folder / remote.fname)
    except ValueError as err:  # get_file: "Incomplete or corrupted file detected ..."
        errs.add(DOWNLOAD, f"data set '{download.name}': '{remote.url}' does not match its "
                 f"sha256 {remote.sha256} ({err}); nothing was kept",
                 expected="the origin's file (the download was corrupted or the file changed)")
    except Exception as err:  # noqa: BLE001 get_file re-raises every network failure as Exception
        errs.add(DOWNLOAD, f"cannot download data set '{download.name}' from '{remote.url}': "
                 f"{_reason(err, origin)}", expected=where_to_put(download))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not any(folder.iterdir()):  # a first fetch that failed leaves no empty folder
            folder.rmdir()
    errs.raise_if_any()


def _reason(err: Exception, origin: str) -> str:
    """get_file's 'URL fetch failure on URL: errno -- reason' without the repeated URL."""
    text = str(err) or type(err).__name__
    prefix = f"URL fetch failure on {origin}: "
    return text[len(prefix):].split(" -- ", 1)[-1] if text.startswith(prefix) else text


def _remove_dead_staging(folder: Path) -> None:
    """Removes the staging folders of fetches whose process died (killed mid-download)."""
    for staging in folder.glob(".fetch-*-*"):
        pid = staging.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _replace(source: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(source, target)


def where_to_put(download: Download) -> str:
    """How a user without internet supplies the data set (for error messages)."""
    names = ", ".join(f.fname + (" (extracted)" if f.extract else "") for f in download.files)
    local = data_dir()
    where = (f"'{local / download.name}/'" if local is not None else
             f"DIR/{download.name}/, DIR named by --data-dir or {DATA_DIR_ENV}")
    return (f"network access, or a local copy: the files {names} in {where}; or the "
            f"origin's files in the Keras cache '{keras_datasets_dir() / download.name}/'")
