"""Hardened YAML loader: one spec document → plain data plus the position of every node.

ruamel.yaml is used rather than PyYAML because it implements YAML 1.2 (`1e-3` is a float,
`yes`/`no`/`on`/`off` are strings) and keeps marks. Only a parser runs (libyaml's, through
PyYAML, when it accepts the text — it is much faster — else ruamel's, which also words every
syntax error); events are composed and converted here with YAML 1.2 rules, so no
constructor (no Python tag) ever runs. Enforced: standard tags only,
finite numbers, unique string keys, bounded alias expansion (no "billion laughs"), nesting and
size limits, one document, a mapping at the top; merge keys (`<<: *base`) are supported.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from modelspec.errors import Problem, SpecError, UsageError, format_path
from modelspec.lang.yamlsyntax import explain_syntax_error
from modelspec.source import LoadedSpec, PathT, SourceMap, YamlValue

MAX_MB, MAX_NODES, MAX_DEPTH = 2, 100_000, 64
MAX_BYTES = MAX_MB * 2**20
SPEC_EXPECTED = "a spec (a mapping with `modelspec: 1`)"

_STD = "tag:yaml.org,2002:"
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]{1,4000}|0o[0-7]{1,4000}|0x[0-9a-fA-F]{1,4000}")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NONFINITE = re.compile(r"[-+]?\.(?:inf|nan)", re.IGNORECASE)
_OTHER_BREAKS = re.compile("[\x85\u2028\u2029]")
_KINDS = {"map": "mapping", "seq": "list"}
_SCALAR_TAGS = ("str", "null", "bool", "int", "float")
_KIND_NAMES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
               str: "a string", list: "a list", dict: "a mapping"}
_EVENTS = {"ScalarEvent": "scalar", "MappingStartEvent": "map", "SequenceStartEvent": "seq",
           "AliasEvent": "alias", "MappingEndEvent": "end", "SequenceEndEvent": "end",
           "DocumentStartEvent": "document"}


class _Node:
    """A composed YAML node: kind is 'scalar', 'map', 'seq' or 'alias' (then `target`)."""

    __slots__ = ("kind", "tag", "value", "plain", "line", "col", "children", "target", "path")

    def __init__(self, kind: str, event: Any, path: PathT = ()) -> None:
        self.kind, self.path = kind, path
        self.children: list[_Node] = []
        self.target: _Node | None = None
        self.line, self.col = event.start_mark.line + 1, event.start_mark.column + 1
        tag = getattr(event, "tag", None)
        self.tag: str | None = None if tag is None else str(getattr(tag, "value", tag))
        # a scalar's text, or a collection's anchor name once composed
        self.value: Any = getattr(event, "value", None)
        self.plain = not getattr(event, "style", None)


def _parse_events(text: str, ruamel_yaml: Any) -> Iterable[Any]:
    """The document's parse events: libyaml's C parser when it accepts the text, else ruamel.

    Only events are taken (no constructor runs on either path). PyYAML's libyaml binding
    parses about 25 times faster than ruamel's pure-Python parser, which keeps
    `modelspec validate` over all shipped specs well under a second; scalar resolution is
    ours and follows YAML 1.2 either way. When libyaml rejects the text (or is missing), the
    ruamel parser runs instead, so that syntax errors read the same everywhere. Positions
    count LF only, as YAML 1.2, editors and `grep -n` do: libyaml (a YAML 1.1 parser) also
    breaks lines at U+0085, U+2028 and U+2029, so a text containing one goes to ruamel.
    """
    events: Iterable[Any]
    if _OTHER_BREAKS.search(text):  # libyaml counts these as line breaks (YAML 1.1)
        events = ruamel_yaml(typ="safe", pure=True).parse(text)
        return events
    try:
        import yaml
        if getattr(yaml, "__with_libyaml__", False):
            return list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except Exception:  # any libyaml complaint: let ruamel report it precisely
        pass
    events = ruamel_yaml(typ="safe", pure=True).parse(text)
    return events


class _Abort(Exception):
    """Stops loading at once (a limit was hit or the YAML cannot be read further)."""


def _show_tag(tag: str) -> str:  # 'tag:yaml.org,2002:set' → '!!set'
    return "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag


def _clip(text: str) -> str:  # a user value short enough to quote in a message
    return text if len(text) <= 40 and "\n" not in text else repr(text)[1:38] + "..."


def _position(text: str | bytes, index: int) -> tuple[int, int]:
    """1-based (line, col) of a character (or byte) index in `text`."""
    if isinstance(text, bytes):
        return text.count(b"\n", 0, index) + 1, index - text.rfind(b"\n", 0, index)
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def _child_path(parent: _Node) -> PathT:
    """The document path of the next child of an open collection (for syntax errors)."""
    index = len(parent.children)
    if parent.kind == "seq" or index % 2 == 0:
        return parent.path + ((index,) if parent.kind == "seq" else ())
    key = parent.children[-1]
    return parent.path + (str(key.value) if key.kind == "scalar" else "?",)


def _bad_tag(tag: str, kind: str) -> tuple[str, str]:
    """(message, expected) for a tag on a node of `kind` ('scalar', 'mapping', 'list')."""
    if tag.startswith(_STD) and tag[len(_STD):] in _SCALAR_TAGS + ("map", "seq"):
        return f"tag '{_show_tag(tag)}' cannot be used on a {kind}", "no tag"
    return f"tag '{_show_tag(tag)}' is not allowed", "plain YAML data (a spec is data, never code)"


def _scalar(node: _Node) -> tuple[YamlValue, tuple[str, str] | None]:
    """Resolves a scalar per the YAML 1.2 core schema → (value, (message, expected)|None)."""
    text, tag = node.value, node.tag
    if tag is None and node.plain:
        kinds: tuple[str, ...] = ("null", "bool", "int", "float")
    elif tag in (None, "!"):
        return text, None
    elif tag.startswith(_STD) and tag[len(_STD):] in _SCALAR_TAGS:
        kinds = (tag[len(_STD):],)
    else:
        return text, _bad_tag(tag, "scalar")
    for kind in kinds:
        if kind == "str" or (kind == "null" and _NULL.fullmatch(text)):
            return (text if kind == "str" else None), None
        if kind == "bool" and text in _BOOL:
            return _BOOL[text], None
        if kind in ("int", "float") and _INT.fullmatch(text):
            number = int(text, 0) if text[:2] in ("0o", "0x") else int(text)
            return (float(number) if kind == "float" else number), None
        if kind == "float" and (_NONFINITE.fullmatch(text) or _FLOAT.fullmatch(text)):
            value = float(text.replace(".", "", 1) if _NONFINITE.fullmatch(text) else text)
            if not math.isfinite(value):
                return text, (f"non-finite number '{_clip(text)}' is not allowed",
                              "a finite number")
            return value, None
    if len(kinds) > 1:
        return text, None
    kind = ("an " if kinds[0] == "int" else "a ") + kinds[0]
    return text, (f"'{_clip(text)}' is not {kind} (tagged '{_show_tag(str(tag))}')",
                  f"{kind}, or no tag")


class _Loader:
    """Composes the parser's events into nodes, then converts them to plain data."""

    def __init__(self, text: str, filename: str) -> None:
        self.text, self.filename, self.source = text, filename, SourceMap(filename=filename)
        self.problems: list[Problem] = []
        self.count = 0      # nodes produced, aliases expanded (tick)
        self.composed = 0   # nodes composed from events
        self.reported: set[tuple[int, str]] = set()

    def record(self, line: int, col: int, path: PathT, msg: str,
               expected: str | None = None) -> None:
        """Records a problem; loading goes on."""
        self.problems.append(Problem(self.filename, line, col, format_path(path), msg, expected))

    def abort(self, line: int, col: int, path: PathT, msg: str,
              expected: str | None = None) -> NoReturn:
        """Records a problem and stops loading."""
        self.record(line, col, path, msg, expected)
        raise _Abort()

    def report(self, node: _Node, path: PathT, msg: str, expected: str | None = None) -> None:
        """Reports a problem of `node` once, even when aliases repeat the node."""
        if (id(node), msg) not in self.reported:
            self.reported.add((id(node), msg))
            self.record(node.line, node.col, path, msg, expected)

    def compose(self) -> _Node | None:
        """Returns the root node of the only document (None when there is none)."""
        from ruamel.yaml import YAML
        from ruamel.yaml.error import MarkedYAMLError, YAMLError
        from ruamel.yaml.reader import ReaderError
        stack: list[_Node] = []
        roots: list[_Node] = []
        anchors: dict[str, _Node] = {}
        open_anchors: set[str] = set()
        documents = 0
        try:
            for event in _parse_events(self.text, YAML):
                kind = _EVENTS.get(type(event).__name__)
                if kind == "document":
                    if (documents := documents + 1) > 1:
                        self.abort(event.start_mark.line + 1, event.start_mark.column + 1, (),
                                   "a second YAML document starts here",
                                   "exactly one document per spec file (remove the extra `---`)")
                    continue
                if kind == "end":
                    node = stack.pop()
                    if node.value:  # a collection's anchor is usable once it is complete
                        anchors[node.value] = node
                        open_anchors.discard(node.value)
                elif kind is None:  # stream start/end, document end
                    continue
                else:
                    started = self.start_node(kind, event, stack, anchors, open_anchors)
                    if started is None:  # a collection: children follow until its end event
                        continue
                    node = started
                (stack[-1].children if stack else roots).append(node)
        except MarkedYAMLError as err:
            line, col, message, expected = explain_syntax_error(err, self.text)
            self.abort(line, col, stack[-1].path if stack else (), message, expected)
        except ReaderError as err:
            self.abort(*_position(self.text, err.position), (), f"control character U+"
                       f"{err.character:04X} is not allowed", "printable text (write it as an "
                       "escape in a double-quoted string)")
        except YAMLError as err:  # any other parser failure, reported without a traceback
            self.abort(1, 1, (), f"invalid YAML: {str(err).splitlines()[0]}", "valid YAML")
        return roots[0] if roots else None

    def start_node(self, kind: str, event: Any, stack: list[_Node], anchors: dict[str, _Node],
                   open_anchors: set[str]) -> _Node | None:
        """The node an event starts: a scalar or an alias (returned, to add to its parent), or
        a collection (pushed on `stack` until its end event; None)."""
        path = _child_path(stack[-1]) if stack else ()
        node, anchor = _Node(kind, event, path), event.anchor
        self.composed += 1
        if self.composed > MAX_NODES:
            self.abort(node.line, node.col, path, "the document has too many nodes "
                       f"(limit {MAX_NODES})", "a spec of a reasonable size")
        if kind == "alias":
            node.target = anchors.get(anchor)
            if node.target is None:
                why = ("is used inside the node it names" if anchor in open_anchors
                       else "is not defined before it")
                self.abort(node.line, node.col, path, f"alias '*{anchor}' {why}",
                           f"an anchor '&{anchor}' defined earlier in the file")
        elif kind == "scalar" and anchor:
            anchors[anchor] = node
        elif kind != "scalar":
            if len(stack) >= MAX_DEPTH:
                self.abort(node.line, node.col, path, "the document is nested too "
                           f"deeply (limit {MAX_DEPTH} levels)", "a flatter document")
            node.value = anchor
            open_anchors.add(anchor)
            stack.append(node)
            return None
        return node

    def tick(self, node: _Node, path: PathT) -> None:  # counts nodes as produced, aliases expanded
        self.count += 1
        if self.count > MAX_NODES:
            self.abort(node.line, node.col, path, f"too many nodes after expanding aliases (limit "
                       f"{MAX_NODES}) — anchors and aliases may not be used to build huge "
                       "documents")

    def convert(self, node: _Node, path: PathT, depth: int = 0, at: tuple[int, int] | None = None,
                via: tuple[int, int] | None = None) -> YamlValue:
        """Plain value of `node`; records positions (`at`: an alias's own, `via`: last alias)."""
        self.tick(node, path)
        if node.kind == "alias":
            assert node.target is not None  # compose() resolved every alias or stopped
            return self.convert(node.target, path, depth, at or (node.line, node.col),
                                (node.line, node.col))
        self.source.values[path] = at or (node.line, node.col)
        if node.kind == "scalar":
            value, error = _scalar(node)
            return self.report(node, path, *error) if error else value
        if depth >= MAX_DEPTH:
            line, col = via or (node.line, node.col)
            self.abort(line, col, path,
                       f"the document is nested too deeply after expanding aliases (limit "
                       f"{MAX_DEPTH} levels)", "a flatter document")
        if node.tag not in (None, "!", _STD + node.kind):
            self.report(node, path, *_bad_tag(node.tag, _KINDS[node.kind]))
        if node.kind == "seq":
            return [self.convert(child, path + (i,), depth + 1, via=via)
                    for i, child in enumerate(node.children)]
        result: dict[str, YamlValue] = {}
        for key, knode, vnode in self.entries(node, path, depth):
            self.source.keys[path + (key,)] = (knode.line, knode.col)
            result[key] = self.convert(vnode, path + (key,), depth + 1, via=via)
        return result

    def entries(self, node: _Node, path: PathT, depth: int) -> list[tuple[str, _Node, _Node]]:
        """Returns the (key, key node, value node) of a mapping, with merge keys applied."""
        explicit: dict[str, _Node] = {}
        keyed: list[tuple[str | None, _Node, _Node]] = []
        for knode, vnode in zip(node.children[0::2], node.children[1::2]):
            target = knode.target or knode
            if target.kind == "scalar" and target.plain and target.value == "<<" and \
                    target.tag in (None, _STD + "merge"):
                keyed.append((None, knode, vnode))
            elif (key := self.key(knode, path)) in explicit:
                self.report(knode, path + (key,), f"duplicate key '{key}' (first defined at "
                            f"line {explicit[key].line})", "each key at most once in a mapping")
            elif key is not None:
                explicit[key] = knode
                keyed.append((key, knode, vnode))
        out: list[tuple[str, _Node, _Node]] = []
        seen: set[str] = set(explicit)
        for key, knode, vnode in keyed:
            if key is not None:
                out.append((key, knode, vnode))
                continue
            sources = (vnode.target or vnode).children if (vnode.target or vnode).kind == "seq" \
                else [vnode]  # `<<: *a` or `<<: [*a, *b]`: earlier sources win
            for source in sources:
                self.tick(source, path)
                if (source.target or source).kind != "map":
                    self.report(source, path + ("<<",), "a merge key '<<' must be followed by "
                                "a mapping or a list of mappings",
                                "'<<: *anchor' or '<<: [*a, *b]' naming mappings")
                elif depth >= MAX_DEPTH:
                    self.abort(source.line, source.col, path, "merge keys are nested too "
                               f"deeply (limit {MAX_DEPTH} levels)", "a flatter document")
                else:
                    for entry in self.entries(source.target or source, path, depth + 1):
                        if entry[0] not in seen:
                            seen.add(entry[0])
                            out.append(entry)
        return out

    def key(self, knode: _Node, path: PathT) -> str | None:
        """Returns a mapping key as a string, or None after reporting why it is not one."""
        node = knode.target or knode
        value, error = _scalar(node) if node.kind == "scalar" else (None, (
            f"a {_KINDS[node.kind]} cannot be a mapping key", "a string key (mapping keys must "
            "be strings)"))
        if not error and not isinstance(value, str):
            shown = _clip(node.value) or "(empty)"
            error = (f"mapping key {shown} is {_KIND_NAMES[type(value)]}, but mapping keys must be "
                     "strings", f"a string key (write '{shown}' in quotes)")
        if error:
            self.report(knode, path, *error)
            return None
        return value


def load_text(text: str, filename: str = "<string>", *, path: Path | None = None) -> LoadedSpec:
    """Loads one spec document from YAML text.

    Args:
        text: The YAML text.
        filename: The name used in error messages.
        path: The file the text came from, if any (recorded on the result).

    Returns:
        A `LoadedSpec` with plain data (dict/list/str/int/float/bool/None) and a `SourceMap`
        holding the position of every value and mapping key.

    Raises:
        SpecError: With every positioned problem (syntax, tags, keys, numbers, limits, ...).

    Example:
    >>> spec = load_text("modelspec: 1\\nname: lenet5\\n", "lenet5.yaml")
    >>> spec.data["name"], spec.source.values[("name",)]
    ('lenet5', (2, 7))
    """
    loader = _Loader(text, filename)
    try:
        if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            loader.abort(1, 1, (), f"the file is larger than the {MAX_MB} MB limit",
                         f"a spec under {MAX_MB} MB")
        root = loader.compose()
        if root is None or (root.kind, root.plain, root.tag, root.value) == ("scalar", True,
                                                                             None, ""):
            loader.abort(1, 1, (), "the file is empty", SPEC_EXPECTED)
        data = loader.convert(root, ())
        if not isinstance(data, dict) and not loader.problems:
            loader.abort(1, 1, (), f"the document is {_KIND_NAMES[type(data)]}, not a mapping",
                         SPEC_EXPECTED)
    except _Abort:
        pass
    if loader.problems:
        raise SpecError(loader.problems)
    return LoadedSpec(data=data, source=loader.source, path=path, text=text)


def load(path_or_text: str | os.PathLike[str], *, filename: str | None = None) -> LoadedSpec:
    """Loads one spec document from a file (or from YAML text).

    Args:
        path_or_text: A `Path`/path string to a YAML file; a string containing a newline is
            taken as the YAML text itself.
        filename: The name used in error messages (default: the path as given, or
            `<string>` for text).

    Returns:
        A `LoadedSpec`; for a file its `path` is the absolute path and `text` its content.

    Raises:
        UsageError: The file does not exist, is a directory or cannot be read.
        SpecError: The file is too large, not UTF-8, or not a valid spec document.

    Example:
    >>> spec = load("specs/lenet5.yaml")
    >>> spec.data["name"], spec.source.filename
    ('lenet5', 'specs/lenet5.yaml')
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:  # YAML text, not a path
        return load_text(path_or_text, filename or "<string>")
    name, path = filename or os.fspath(path_or_text), Path(path_or_text)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise UsageError(f"{name}: is a directory — expected a YAML spec file")
        if size > MAX_BYTES:
            raise SpecError([Problem(name, 1, 1, "<root>", f"the file is {size / 2**20:.1f} MB, "
                                     f"larger than the {MAX_MB} MB limit",
                                     f"a spec under {MAX_MB} MB")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file — expected a path to a YAML spec file") from None
    except OSError as err:
        raise UsageError(f"{name}: cannot read the file ({err.strerror or err}) — expected a "
                         "readable YAML spec file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError([Problem(name, *_position(raw, err.start), "<root>", "the file is not "
                                 f"valid UTF-8 (byte 0x{raw[err.start]:02x})",
                                 "UTF-8 text")]) from None
    return load_text(text, name, path=path.absolute())
