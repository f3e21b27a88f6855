"""`CheckedSpec`: a spec that passed every check, with its parameters resolved.

It is what every later stage (compiler, data, training, export) receives. Parameter
references (`$name`, `$(expression)`) are substituted on demand by `resolve`, so sections
stay plain data; the flat layer graphs of its models are computed during checking.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelspec.errors import Collector
from modelspec.lang.expr import evaluate_reference, is_reference
from modelspec.source import LoadedSpec, SourceMap


def resolve_value(value: Any, names: Mapping[str, Any]) -> Any:
    """Substitutes parameter references in `value`, recursively (lists and dicts).

    Raises:
        modelspec.lang.expr.ExpressionError: For an unknown name or a bad expression.
    """
    if is_reference(value):
        return evaluate_reference(value, names)
    if isinstance(value, list):
        return [resolve_value(v, names) for v in value]
    if isinstance(value, dict):
        return {k: resolve_value(v, names) for k, v in value.items()}
    return value


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) → sha256


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes ('' if it does not exist), remembered while it is
    unchanged (a weights file of hundreds of MB is read once per process)."""
    try:
        stat = path.stat()
    except OSError:
        return ""
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


@dataclass
class CheckedSpec:
    """A loaded spec that passed schema and semantic checks.

    Args:
        loaded: The loaded document and its source map.
        params: The spec's parameters, resolved (overrides applied).
        graphs: Model name → `modelspec.lang.expand.FlatGraph` ("model" for a `model:` spec).
        overrides: The parameter values given from outside (`-p name=value`), if any.
    """

    loaded: LoadedSpec
    params: dict[str, Any] = field(default_factory=dict)
    graphs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def raw(self) -> dict[str, Any]:
        data: dict[str, Any] = self.loaded.data
        return data

    @property
    def source(self) -> SourceMap:
        return self.loaded.source

    @property
    def path(self) -> Path | None:
        return self.loaded.path

    @property
    def filename(self) -> str:
        return self.loaded.source.filename

    @property
    def base_dir(self) -> Path:
        return self.loaded.base_dir

    @property
    def name(self) -> str:
        if self.raw.get("name"):
            return str(self.raw["name"])
        return self.path.stem if self.path is not None else "model"

    @property
    def model_names(self) -> list[str]:
        return list(self.graphs)

    @property
    def is_multi_model(self) -> bool:
        return "models" in self.raw

    def resolve(self, value: Any) -> Any:
        """Returns `value` with every `$name` / `$(expression)` substituted."""
        return resolve_value(value, self.params)

    def section(self, key: str) -> Any:
        """A top-level section (`data`, `train`, `export`, ...) with parameters substituted."""
        if key not in self.raw:
            return None
        return self.resolve(self.raw[key])

    def errors(self) -> Collector:
        """A fresh collector for problems in this spec."""
        return Collector(self.source)

    def resolved_document(self) -> dict[str, Any]:
        """The whole document with parameters substituted (blocks stay as written)."""
        doc = {k: v for k, v in self.raw.items() if k not in ("params", "blocks")}
        out = {"params": dict(self.params)}
        if "blocks" in self.raw:
            out["blocks"] = self.raw["blocks"]
        for key, value in doc.items():
            out[key] = value if key in ("model", "models") else self.resolve(value)
        return out

    def weights_digests(self) -> dict[str, str]:
        """sha256 of each model's `weights:` file (model name → digest; missing: '')."""
        graphs = self.raw.get("models") or {"model": self.raw.get("model")}
        out = {}
        for name, graph in graphs.items():
            weights = graph.get("weights") if isinstance(graph, dict) else None
            if isinstance(weights, str):
                path = Path(weights) if Path(weights).is_absolute() else self.base_dir / weights
                out[name] = file_sha256(path)
        return out

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical resolved document (comments and layout do not count)."""
        # `tune:` only drives `modelspec tune`: it does not change what a run trains
        document = {k: v for k, v in self.resolved_document().items() if k != "tune"}
        weights = self.weights_digests()
        if weights:  # a model starting from a changed weights file is another run
            document["weights_sha256"] = weights
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()
