"""Where each node of a spec came from: file name, text and line:col of every node.

The loader (`modelspec.lang.yamlio`) returns plain Python data (dict, list, str, int, float,
bool, None) together with a `SourceMap`, so that every later stage can point at the
exact place of a mistake without carrying YAML node objects around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PathT = tuple[str | int, ...]  # a path inside the document: ("model", "layers", 3, "units")
# Plain YAML data as the loader returns it: a dict[str, YamlValue], list[YamlValue], str, int,
# float, bool or None. `Any` rather than the recursive union: every reader narrows it with
# isinstance where it matters, and the schema has already checked the shape.
YamlValue = Any
YamlMap = dict[str, Any]  # a mapping of such data (a spec, a section, a layer's arguments)


@dataclass
class SourceMap:
    """Positions (1-based line, column) of the nodes of one document.

    Args:
        filename: The name used in error messages (the path as the user gave it).
        values: document path → position of the node's value.
        keys: document path → position of the mapping key that leads to it.
    """

    filename: str = "<string>"
    values: dict[PathT, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathT, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: PathT, key: bool = False) -> tuple[int, int]:
        """Returns (line, col) of `path`, or of its nearest ancestor that has one.

        Args:
            path: A document path such as ("model", "layers", 2, "units").
            key: Prefer the position of the mapping key (for "unknown key" errors).

        Returns:
            (line, col), both 1-based; (0, 0) when nothing is known (e.g. no file).
        """
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return (0, 0)
            path = path[:-1]
            key = False


@dataclass
class LoadedSpec:
    """A loaded spec document: plain data plus where each node came from.

    Args:
        data: The document as plain Python data.
        source: Positions of its nodes.
        path: The file it was read from (None for strings); relative paths inside the spec
            are resolved against its directory.
        text: The document's text (used for fingerprints and metadata).
    """

    data: YamlValue
    source: SourceMap
    path: Path | None = None
    text: str = ""

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the spec are resolved against."""
        return self.path.parent if self.path is not None else Path.cwd()
