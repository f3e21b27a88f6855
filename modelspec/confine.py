"""The file-access policy: which files a spec may name (`MODELSPEC_CONFINE=1` / `--confine`).

By default a spec may name files anywhere its user can read (data sources, Application
weights, the export directory, `train.init_from.run`), as a script would. A service that
checks specs written by others (a course's autograder) sets `MODELSPEC_CONFINE=1` (or passes
`--confine`): then every path a spec names must resolve — after `~`, `..` and symlinks —
inside the spec's folder or the data folder (`MODELSPEC_DATA_DIR`, when set). Each violation
is a positioned problem (exit 2) that names the path as written and quotes nothing from the
file, and the check runs before any data file is opened.

Example:
>>> os.environ["MODELSPEC_CONFINE"] = "1"
>>> load_and_check("spec.yaml")   # data: {source: {path: /etc/passwd}} →
spec.yaml:4:20: data.source.path: '/etc/passwd' is outside the spec's folder ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelspec.errors import Collector
from modelspec.source import PathT

if TYPE_CHECKING:
    from modelspec.lang.spec import CheckedSpec

ENV = "MODELSPEC_CONFINE"
DATA_ENV = "MODELSPEC_DATA_DIR"
_DATA_KEYS = ("path", "data_dir")  # keys of `data:` (at any depth) that name files


def confined() -> bool:
    """True when the policy is on (`MODELSPEC_CONFINE` set to 1/true/yes)."""
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


def allowed_roots(base_dir: Path) -> list[Path]:
    """The folders paths must resolve into: the spec's folder and the data folder."""
    roots = [Path(base_dir).resolve()]
    if os.environ.get(DATA_ENV):
        roots.append(Path(os.environ[DATA_ENV]).expanduser().resolve())
    return roots


def inside(value: str, base_dir: Path, roots: list[Path]) -> bool:
    """Whether `value` (as written in the spec) resolves inside one of `roots`."""
    path = Path(value).expanduser()
    path = (path if path.is_absolute() else Path(base_dir) / path).resolve()
    return any(path == root or root in path.parents for root in roots)


def _data_paths(node: Any, path: PathT) -> Iterator[tuple[PathT, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _DATA_KEYS and isinstance(value, str):
                yield path + (key,), value
            elif key in _DATA_KEYS and isinstance(value, dict):  # one path per split
                yield from ((path + (key, k), v) for k, v in value.items()
                            if isinstance(v, str))
            else:
                yield from _data_paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _data_paths(value, path + (i,))


def named_paths(spec: CheckedSpec) -> Iterator[tuple[PathT, str]]:
    """(document path, value) of every file or folder a checked spec names."""
    doc = spec.raw
    yield from _data_paths(spec.resolve(doc.get("data") or {}), ("data",))
    for flat in spec.graphs.values():
        for node in flat.nodes:
            weights = node.args.get("weights") if node.kind == "layer" else None
            if isinstance(weights, str) and weights != "imagenet":
                yield node.arg_paths.get("weights", node.path), weights
    export = spec.resolve(doc.get("export") or {})
    if isinstance(export, dict) and isinstance(export.get("directory"), str):
        yield ("export", "directory"), export["directory"]
    train = spec.resolve(doc.get("train") or {})
    init = train.get("init_from") if isinstance(train, dict) else None
    if isinstance(init, dict) and isinstance(init.get("run"), str):
        yield ("train", "init_from", "run"), init["run"]


def check_confined(spec: CheckedSpec, errs: Collector) -> None:
    """Reports every path of `spec` outside the allowed folders (only when confined)."""
    if not confined():
        return
    roots = allowed_roots(spec.base_dir)
    where = " or ".join(f"'{r}'" for r in roots)
    for doc_path, value in named_paths(spec):
        if not inside(value, spec.base_dir, roots):
            errs.add(doc_path, f"'{value}' is outside the spec's folder ({ENV}=1: files are "
                     "confined)", expected=f"a path that resolves, after symlinks, inside "
                     f"{where}")
