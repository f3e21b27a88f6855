"""Data sets by public origin (`download:`), for real: a local HTTP server on 127.0.0.1 serves
the files; they are downloaded once, verified, cached, and read again with the server stopped.
A wrong checksum and an interrupted download leave nothing in the cache; local copies in
MODELSPEC_DATA_DIR / --data-dir are read without any network."""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import socket
import tarfile
import threading
import time
from pathlib import Path

import pytest

import modelspec
from modelspec.data.pipeline import build_datasets
from modelspec.errors import SpecError

CSV = "x,y\n" + "".join(f"{i / 10},{i % 2}\n" for i in range(40))


class Server:
    """A threaded `http.server` on 127.0.0.1 serving `files` (name → bytes); counts requests.

    A name in `truncated` is answered with a Content-Length larger than what is sent.
    """

    def __init__(self, files: dict[str, bytes], truncated: tuple[str, ...] = ()):
        self.files, self.truncated, self.requests = files, truncated, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                name = self.path.lstrip("/")
                outer.requests.append(name)
                body = outer.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 3] if name in outer.truncated else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    servers = []

    def start(files, truncated=()):
        servers.append(Server(files, truncated))
        return servers[-1]

    yield start
    for s in servers:
        if s.thread.is_alive():
            s.stop()


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """An empty Keras cache (KERAS_HOME) and an empty folder of local copies."""
    keras_home, local = tmp_path / "keras_home", tmp_path / "local"
    local.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("MODELSPEC_DATA_DIR", str(local))
    return keras_home / "datasets", local


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spec_text(url: str, sha256: str, path: str = "table.csv", extract: str = "") -> str:
    return f"""\
modelspec: 1
name: t
model:
  inputs: {{x: {{shape: [1]}}}}
  layers: [{{id: out, type: Dense, units: 2, activation: softmax}}]
  outputs: {{y: out}}
data:
  source:
    type: csv
    download:
      name: toy
      files:
        - {{url: '{url}', sha256: '{sha256}'{extract}}}
    path: {path}
  features: {{x: x}}
  targets: {{y: y}}
  splits: {{train: "all[:75%]", test: "all[75%:]"}}
  transforms: [{{type: reshape, field: x, shape: [1]}}]
"""


def bundle_of(tmp_path: Path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = modelspec.load_spec(path)
    return build_datasets(spec, {"x": ((1,), "float32")}, {"y": ((2,), "float32")})


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_downloads_once_verifies_caches_and_reuses_offline(tmp_path, dirs, server):
    cache, _ = dirs
    srv = server({"table.csv": CSV.encode()})
    text = spec_text(f"{srv.url}/table.csv", sha(CSV.encode()))
    assert bundle_of(tmp_path, text).counts == {"train": 30, "test": 10}
    assert srv.requests == ["table.csv"]
    assert (cache / "toy" / "table.csv").read_text() == CSV
    assert leftovers(cache / "toy") == ["table.csv"]  # no staging folder left
    bundle_of(tmp_path, text)
    assert srv.requests == ["table.csv"]  # verified in the cache, not downloaded again
    srv.stop()
    assert bundle_of(tmp_path, text).counts == {"train": 30, "test": 10}


def test_wrong_checksum_is_refused_and_nothing_is_cached(tmp_path, dirs, server):
    cache, _ = dirs
    srv = server({"table.csv": CSV.encode()})
    with pytest.raises(SpecError) as err:
        bundle_of(tmp_path, spec_text(f"{srv.url}/table.csv", "0" * 64))
    text = str(err.value)
    assert "spec.yaml:11:7: data.source.download: data set 'toy'" in text
    assert f"'{srv.url}/table.csv' does not match its sha256 {'0' * 64}" in text
    assert "nothing was kept" in text
    assert not (cache / "toy").exists()


def test_interrupted_download_leaves_no_cached_file(tmp_path, dirs, server):
    cache, _ = dirs
    srv = server({"table.csv": CSV.encode()}, truncated=("table.csv",))
    with pytest.raises(SpecError) as err:
        bundle_of(tmp_path, spec_text(f"{srv.url}/table.csv", sha(CSV.encode())))
    assert "cannot download data set 'toy'" in str(err.value)
    assert leftovers(cache / "toy") == []
    srv.truncated = ()  # the next attempt downloads it whole
    assert bundle_of(tmp_path, spec_text(f"{srv.url}/table.csv", sha(CSV.encode()))).counts \
        == {"train": 30, "test": 10}


def test_a_killed_download_is_cleaned_up_by_the_next_one(tmp_path, dirs, server):
    """A process killed mid-download leaves its staging folder; the next fetch removes it."""
    cache, _ = dirs
    dead = cache / "toy" / ".fetch-999999999-x"  # no such process
    (dead / "files").mkdir(parents=True)
    (dead / "files" / "table.csv").write_text(CSV[:10])
    srv = server({"table.csv": CSV.encode()})
    bundle_of(tmp_path, spec_text(f"{srv.url}/table.csv", sha(CSV.encode())))
    assert leftovers(cache / "toy") == ["table.csv"]


def test_archive_is_extracted_once_and_read_offline(tmp_path, dirs, server):
    cache, _ = dirs
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("toy-data/table.csv")
        info.size = len(CSV)
        tar.addfile(info, io.BytesIO(CSV.encode()))
    archive = buf.getvalue()
    srv = server({"toy.tar.gz": archive})
    text = spec_text(f"{srv.url}/toy.tar.gz", sha(archive), path="toy-data/table.csv",
                     extract=", extract: true")
    assert bundle_of(tmp_path, text).counts == {"train": 30, "test": 10}
    srv.stop()
    assert bundle_of(tmp_path, text).counts == {"train": 30, "test": 10}
    assert (cache / "toy" / "toy-data" / "table.csv").is_file()
    # the origin's archive put into the cache by hand (no network): verified and extracted
    shutil.rmtree(cache / "toy" / "toy-data")
    (cache / "toy" / ".toy.tar.gz.extracted").unlink()
    assert bundle_of(tmp_path, text).counts == {"train": 30, "test": 10}
    assert (cache / "toy" / "toy-data" / "table.csv").read_text() == CSV


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_network_fails_fast_naming_the_data_set_url_and_local_copy(tmp_path, dirs):
    _, local = dirs
    url = f"http://127.0.0.1:{closed_port()}/table.csv"
    start = time.monotonic()
    with pytest.raises(SpecError) as err:
        bundle_of(tmp_path, spec_text(url, "unpublished"))
    assert time.monotonic() - start < 20
    text = str(err.value)
    assert f"data.source.download: cannot download data set 'toy' from '{url}': [Errno 111] " \
        "Connection refused — expected network access, or a local copy" in text
    assert f"a local copy: the files table.csv in '{local / 'toy'}/'" in text
    assert "Keras cache" in text


def test_local_copy_is_read_without_network(tmp_path, dirs, capsys):
    _, local = dirs
    (local / "toy").mkdir()
    (local / "toy" / "table.csv").write_text(CSV)
    url = f"http://127.0.0.1:{closed_port()}/table.csv"
    assert bundle_of(tmp_path, spec_text(url, sha(CSV.encode()))).counts == \
        {"train": 30, "test": 10}
    assert "differ" not in capsys.readouterr().err
    bundle_of(tmp_path, spec_text(url, "1" * 64))  # a repackaged copy: used, and said so
    assert "table.csv differ from the sha256 the origin publishes" in capsys.readouterr().err


def test_local_copy_missing_a_file_is_a_positioned_error(tmp_path, dirs):
    _, local = dirs
    (local / "toy").mkdir()
    url = f"http://127.0.0.1:{closed_port()}/table.csv"
    with pytest.raises(SpecError) as err:
        bundle_of(tmp_path, spec_text(url, "unpublished"))
    assert (f"spec.yaml:14:11: data.source.path: 'table.csv' is not in the local copy of data "
            f"set 'toy' ('{local / 'toy'}')") in str(err.value)


def test_data_dir_option_overrides_the_environment(tmp_path, dirs):
    from click.testing import CliRunner

    from modelspec.cli.main import main
    from modelspec.data import fetch
    other = tmp_path / "other"
    (other / "toy").mkdir(parents=True)
    (other / "toy" / "table.csv").write_text(CSV)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(f"http://127.0.0.1:{closed_port()}/table.csv", "unpublished"))
    result = CliRunner().invoke(main, ["data", str(spec), "--take", "1",
                                       "--data-dir", str(other)])
    assert result.exit_code == 0, result.output
    assert f"data set: toy (local copy '{other / 'toy'}')\nsplits: train 30 examples, test 10 " \
        "examples" in result.output
    assert fetch.data_dir() == dirs[1]  # the option held for that command only


def test_validate_needs_no_download_but_checks_file_names(spec_problems):
    text = spec_text("https://example.org/data/table.csv", "unpublished")
    assert spec_problems(text) == []
    problems = spec_problems(text.replace("path: table.csv", "path: tabel.csv"))
    assert problems == ["spec.yaml:14:11: data.source.path: 'tabel.csv' is not a file of data "
                        "set 'toy' — expected one of the files of download.files: "
                        "['table.csv'] (did you mean 'table.csv'?)"]
    bad = spec_problems(text.replace("sha256: 'unpublished'", "sha256: abc"))
    assert len(bad) == 1 and bad[0].endswith(
        "data.source.download.files[0].sha256: 'abc' is not valid here — expected the sha256 "
        "the origin publishes (64 hex digits), or 'unpublished' when it publishes none")


def test_train_without_network_stops_with_exit_2_and_writes_nothing(tmp_path, dirs):
    """specs/lenet5.yaml copied elsewhere, its origin unreachable (a closed local port stands
    in for a machine without network): exit 2 naming MNIST, the URL and the local copy."""
    from click.testing import CliRunner

    from modelspec.cli.main import main
    shipped = (Path(__file__).resolve().parents[1] / "specs" / "lenet5.yaml").read_text()
    origin = "https://storage.googleapis.com/cvdf-datasets/mnist/"
    assert origin in shipped
    dead = f"http://127.0.0.1:{closed_port()}/"
    (tmp_path / "lenet5.yaml").write_text(shipped.replace(origin, dead))
    start = time.monotonic()
    result = CliRunner().invoke(main, ["train", str(tmp_path / "lenet5.yaml"), "--output",
                                       str(tmp_path / "runs" / "lenet5"), "-q"])
    assert time.monotonic() - start < 20
    assert result.exit_code == 2, result.output
    assert (f"data.source.download: cannot download data set 'mnist' from "
            f"'{dead}train-images-idx3-ubyte.gz'") in result.output
    assert "a local copy: the files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " \
           "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz in" in result.output
    assert not (tmp_path / "runs").exists()  # nor the parent folder the run would have needed


def test_a_shipped_spec_copied_anywhere_reads_its_local_copy(tmp_path, local_data):
    from click.testing import CliRunner

    from modelspec.cli.main import main
    copy = tmp_path / "elsewhere" / "lenet5.yaml"
    copy.parent.mkdir()
    copy.write_text((Path(__file__).resolve().parents[1] / "specs" / "lenet5.yaml").read_text())
    result = CliRunner().invoke(main, ["data", str(copy), "--take", "1",
                                       "--data-dir", str(local_data)])
    assert result.exit_code == 0, result.output
    assert "splits: train 7,200 examples, validation 800 examples, test 2,000 examples" \
        in result.output  # the stand-in: MNIST's test set split 8,000 / 2,000
