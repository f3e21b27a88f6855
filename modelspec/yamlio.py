"""Hardened YAML loader: one spec document → plain data plus the position of every node.

We use ruamel.yaml rather than PyYAML because it implements YAML 1.2 (`1e-3` is a float,
`yes`/`no`/`on`/`off` are strings) and keeps marks. Only its *parser* is used: the event
stream is composed into a small node tree here and converted to plain Python data by our
own code, so no ruamel constructor (and no Python tag) can ever run. The loader enforces:
only the standard tags (str, int, float, bool, null, map, seq), finite numbers, no duplicate
or non-string keys, a bounded number of nodes after expanding aliases (no "billion laughs"),
a nesting limit, a size limit and exactly one document whose top level is a mapping.
Merge keys (`<<: *defaults`) are supported; explicit keys win over merged ones.
Every problem is a positioned `Problem` in a `SpecError`; syntax errors never leak a traceback.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from modelspec.errors import Problem, SpecError, UsageError, format_path
from modelspec.source import LoadedSpec, SourceMap

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64
SPEC_EXPECTED = "a spec (a mapping with `modelspec: 1`)"

_STD = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_NONFINITE = re.compile(r"^[-+]?\.(?:inf|nan)$", re.IGNORECASE)
_KINDS = {"map": "mapping", "seq": "list"}


class _Node:
    """A composed YAML node: kind is 'scalar', 'map', 'seq' or 'alias' (then `target`)."""

    __slots__ = ("kind", "tag", "value", "plain", "line", "col", "children", "target", "path")

    def __init__(self, kind, event, path=()):
        self.kind, self.path = kind, path
        self.line, self.col = event.start_mark.line + 1, event.start_mark.column + 1
        tag = getattr(event, "tag", None)
        self.tag = None if tag is None else str(getattr(tag, "value", tag))
        self.value = getattr(event, "value", None)
        self.plain = getattr(event, "style", None) is None
        self.children, self.target = [], None


class _Abort(Exception):
    """Stops loading at once (a limit was hit or the YAML cannot be read further)."""


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag


def _kind_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), "a value")


class _Loader:
    """Composes the parser's events into nodes, then converts them to plain data."""

    def __init__(self, text: str, filename: str):
        self.text, self.filename = text, filename
        self.source = SourceMap(filename=filename)
        self.problems: list[Problem] = []
        self.count = 0
        self.reported: set = set()

    # -- problems -----------------------------------------------------------------------
    def problem(self, line, col, path, message, expected=None):
        self.problems.append(Problem(self.filename, line, col, format_path(path), message,
                                     expected))

    def abort(self, line, col, path, message, expected=None):
        self.problem(line, col, path, message, expected)
        raise _Abort()

    def report(self, node, path, message, expected=None, at=None):
        """Reports a problem of `node` once, even when aliases repeat the node."""
        if (id(node), message) in self.reported:
            return
        self.reported.add((id(node), message))
        line, col = at if at else (node.line, node.col)
        self.problem(line, col, path, message, expected)

    # -- composing ----------------------------------------------------------------------
    def compose(self):
        """Returns the root node of the only document (None when there is none)."""
        from ruamel.yaml import YAML
        from ruamel.yaml.error import MarkedYAMLError, YAMLError
        from ruamel.yaml.reader import ReaderError
        stack: list[_Node] = []
        anchors: dict[str, _Node] = {}
        open_anchors: dict[str, int] = {}
        root, documents, composed = None, 0, 0
        try:
            for event in YAML(typ="safe", pure=True).parse(self.text):
                name = type(event).__name__
                if name == "DocumentStartEvent":
                    documents += 1
                    if documents > 1:
                        mark = event.start_mark
                        self.abort(mark.line + 1, mark.column + 1, (),
                                   "a second YAML document starts here",
                                   "exactly one document per spec file (remove the extra `---`)")
                    continue
                if name in ("StreamStartEvent", "StreamEndEvent", "DocumentEndEvent"):
                    continue
                path = self._child_path(stack[-1]) if stack else ()
                if name in ("MappingEndEvent", "SequenceEndEvent"):
                    node = stack.pop()
                    self._anchor(node, anchors, open_anchors)
                elif name == "AliasEvent":
                    node = _Node("alias", event, path)
                    node.target = anchors.get(event.anchor)
                    if node.target is None:
                        why = ("is used inside the node it names"
                               if event.anchor in open_anchors else "is not defined before it")
                        self.abort(node.line, node.col, path,
                                   f"alias '*{event.anchor}' {why}",
                                   f"an anchor '&{event.anchor}' defined earlier in the file")
                else:
                    composed += 1
                    if composed > MAX_NODES:
                        self.abort(event.start_mark.line + 1, event.start_mark.column + 1, path,
                                   f"the document has too many nodes (limit {MAX_NODES})",
                                   "a spec of a reasonable size")
                    kind = {"ScalarEvent": "scalar", "MappingStartEvent": "map",
                            "SequenceStartEvent": "seq"}[name]
                    node = _Node(kind, event, path)
                    if kind != "scalar":
                        if len(stack) >= MAX_DEPTH:
                            self.abort(node.line, node.col, path,
                                       f"the document is nested too deeply (limit {MAX_DEPTH} "
                                       "levels)", "a flatter document")
                        node.value = event.anchor
                        if event.anchor:
                            open_anchors[event.anchor] = 1
                        stack.append(node)
                        continue
                    node.value, anchor = event.value, event.anchor
                    if anchor:
                        anchors[anchor] = node
                if stack:
                    stack[-1].children.append(node)
                else:
                    root = node
        except MarkedYAMLError as err:
            self._syntax_error(err, stack[-1].path if stack else ())
        except ReaderError as err:
            line = self.text.count("\n", 0, err.position) + 1
            col = err.position - (self.text.rfind("\n", 0, err.position) + 1) + 1
            self.abort(line, col, (), f"control character U+{err.character:04X} is not allowed",
                       "printable text (write it as an escape in a double-quoted string)")
        except YAMLError as err:  # any other parser failure, reported without a traceback
            self.abort(1, 1, (), f"invalid YAML: {str(err).splitlines()[0]}", "valid YAML")
        return root

    @staticmethod
    def _child_path(parent: _Node) -> tuple:
        index = len(parent.children)
        if parent.kind == "seq":
            return parent.path + (index,)
        if index % 2 == 0:
            return parent.path
        key = parent.children[-1]
        return parent.path + ((key.value if key.kind == "scalar" else "?"),)

    @staticmethod
    def _anchor(node, anchors, open_anchors):
        if node.value:
            anchors[node.value] = node
            open_anchors.pop(node.value, None)

    def _syntax_error(self, err, path):
        """Turns a ruamel scanner/parser error into one readable, positioned problem."""
        problem = str(err.problem or "invalid YAML")
        context = str(err.context or "")
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        cmark = err.context_mark
        where = f" (started at line {cmark.line + 1})" if cmark else ""
        what = context.replace("while parsing a ", "").replace("while scanning a ", "")
        expected = "valid YAML"
        if problem.startswith("found character '\\t'"):
            before = self.text.splitlines()[mark.line][:mark.column] if mark else ""
            if before.strip() == "":
                message, expected = "tab characters are not allowed for indentation", "spaces"
            else:
                message, expected = "a tab character is not allowed here", "spaces"
        elif problem.startswith("found character") and "cannot start any token" in problem:
            char = problem.split("'")[1]
            message = f"a plain value cannot start with '{char}'"
            expected = "the value in quotes"
        elif problem == "mapping values are not allowed here":
            message = "unexpected ':' in a value"
            expected = ("a nested mapping on its own indented line, or quotes around a value "
                        "that contains ': '")
        elif problem == "could not find expected ':'" and cmark:
            line, col = cmark.line + 1, cmark.column + 1
            message = "this line is neither 'key: value' nor a list item"
            expected = "'key: value' (or '- item' inside a list)"
        elif problem.startswith("expected <block end>, but found"):
            found = {"'<block mapping start>'": "mapping entry", "'?'": "mapping key",
                     "'-'": "list item", "'<block sequence start>'": "list item"}.get(
                problem.split("found ", 1)[1], "content")
            message = f"unexpected {found}: the indentation does not match the block{where}"
            expected = "entries of one block indented by the same number of spaces"
        elif problem.startswith("expected ") and ", but " in problem:
            wanted, got = problem[len("expected "):].split(", but ", 1)
            got = got.split(" ", 1)[1] if " " in got else got
            message = f"unexpected {got} in a {what or 'block'}{where}"
            expected = wanted
        elif problem == "found unexpected end of stream" and "quoted" in context:
            message = f"the quoted string is never closed{where}"
            expected = "a closing quote"
        else:
            message = problem + (f" ({context}{where.replace(' (', ', ')[:-1] if where else ''})"
                                 if context else "")
        self.abort(line, col, path, message, expected)

    # -- converting ---------------------------------------------------------------------
    def tick(self, node, path):
        self.count += 1
        if self.count > MAX_NODES:
            self.abort(node.line, node.col, path,
                       f"too many nodes after expanding aliases (limit {MAX_NODES}) — anchors "
                       "and aliases may not be used to build huge documents")

    def convert(self, node, path, depth=0, at=None):
        """Returns the plain value of `node`, recording positions under `path`."""
        self.tick(node, path)
        if node.kind == "alias":
            return self.convert(node.target, path, depth, at or (node.line, node.col))
        self.source.values[path] = at or (node.line, node.col)
        if node.kind == "scalar":
            value, error = self.scalar(node)
            if error:
                self.report(node, path, *error)
            return value
        if depth >= MAX_DEPTH:
            self.abort(*(at or (node.line, node.col)), path,
                       f"the document is nested too deeply after expanding aliases (limit "
                       f"{MAX_DEPTH} levels)", "a flatter document")
        tag = node.tag
        if tag not in (None, "!", _STD + node.kind):
            self.report(node, path, *self.bad_tag(tag, _KINDS[node.kind]))
        if node.kind == "seq":
            return [self.convert(child, path + (i,), depth + 1)
                    for i, child in enumerate(node.children)]
        result = {}
        for key, knode, vnode in self.entries(node, path, depth):
            self.source.keys[path + (key,)] = (knode.line, knode.col)
            result[key] = self.convert(vnode, path + (key,), depth + 1)
        return result

    def entries(self, node, path, depth):
        """Returns the (key, key node, value node) of a mapping, with merge keys applied."""
        pairs = list(zip(node.children[0::2], node.children[1::2]))
        explicit, keyed = {}, []
        for knode, vnode in pairs:
            target = knode.target if knode.kind == "alias" else knode
            if target.kind == "scalar" and target.plain and target.value == "<<" and \
                    target.tag in (None, _STD + "merge"):
                keyed.append((None, knode, vnode))
                continue
            key = self.key(knode, path)
            if key is None:
                continue
            if key in explicit:
                self.report(knode, path + (key,),
                            f"duplicate key '{key}' (first defined at line "
                            f"{explicit[key].line})", "each key at most once in a mapping")
                continue
            explicit[key] = knode
            keyed.append((key, knode, vnode))
        out, seen = [], set(explicit)
        for key, knode, vnode in keyed:
            if key is not None:
                out.append((key, knode, vnode))
                continue
            for mkey, mknode, mvnode in self.merged(vnode, path, depth):
                if mkey not in seen:
                    seen.add(mkey)
                    out.append((mkey, mknode, mvnode))
        return out

    def merged(self, vnode, path, depth):
        """Entries a `<<:` value brings in: a mapping or a list of mappings (first wins)."""
        target = vnode.target if vnode.kind == "alias" else vnode
        sources = target.children if target.kind == "seq" else [vnode]
        out = []
        for source in sources:
            mapping = source.target if source.kind == "alias" else source
            self.tick(source, path)
            if mapping.kind != "map":
                self.report(source, path + ("<<",), "a merge key '<<' must be followed by a "
                            "mapping or a list of mappings",
                            "'<<: *anchor' or '<<: [*a, *b]' naming mappings")
                continue
            if depth >= MAX_DEPTH:
                self.abort(source.line, source.col, path, "merge keys are nested too deeply "
                           f"(limit {MAX_DEPTH} levels)", "a flatter document")
            out.extend(self.entries(mapping, path, depth + 1))
        return out

    def key(self, knode, path):
        """Returns a mapping key as a string, or None after reporting why it is not one."""
        node = knode.target if knode.kind == "alias" else knode
        if node.kind != "scalar":
            self.report(knode, path, f"a {_KINDS[node.kind]} cannot be a mapping key",
                        "a string key (mapping keys must be strings)")
            return None
        value, error = self.scalar(node)
        if error:
            self.report(knode, path, *error)
            return None
        if not isinstance(value, str):
            shown = node.value if node.value else "(empty)"
            self.report(knode, path, f"mapping key {shown} is {_kind_name(value)}, but mapping "
                        "keys must be strings", f"a string key (write '{shown}' in quotes)")
            return None
        return value

    def scalar(self, node):
        """Resolves a scalar per the YAML 1.2 core schema → (value, (message, expected)|None)."""
        text, tag = node.value, node.tag
        if tag in (None, "!"):
            if not node.plain or tag == "!":
                return text, None
            kinds = ("null", "bool", "int", "float")
        elif tag.startswith(_STD) and tag[len(_STD):] in ("str", "null", "bool", "int", "float"):
            kinds = (tag[len(_STD):],)
        elif tag in (_STD + "map", _STD + "seq"):
            return text, (f"tag '{_show_tag(tag)}' cannot be used on a scalar",
                          "a mapping for '!!map' or a list for '!!seq'")
        else:
            return text, self.bad_tag(tag, "scalar")
        for kind in kinds:
            if kind == "str":
                return text, None
            if kind == "null" and _NULL.match(text):
                return None, None
            if kind == "bool" and text in _BOOL:
                return _BOOL[text], None
            if kind in ("int", "float") and _INT.match(text):
                value = int(text, 0) if text[:2] in ("0o", "0x") else int(text)
                return (float(value) if kind == "float" else value), None
            if kind == "float" and (_NONFINITE.match(text) or _FLOAT.match(text)):
                value = float(text.replace(".", "", 1) if _NONFINITE.match(text) else text)
                if not math.isfinite(value):
                    return text, (f"non-finite number '{text}' is not allowed", "a finite number")
                return value, None
        if len(kinds) == 1:
            article = "an" if kinds[0] == "int" else "a"
            return text, (f"'{text}' is not {article} {kinds[0]} (tagged '{_show_tag(tag)}')",
                          f"{article} {kinds[0]} value, or no tag")
        return text, None

    @staticmethod
    def bad_tag(tag, kind):
        if tag.startswith(_STD) and tag[len(_STD):] in ("str", "int", "float", "bool", "null",
                                                      "map", "seq"):
            return (f"tag '{_show_tag(tag)}' cannot be used on a {kind}", "no tag")
        return (f"tag '{_show_tag(tag)}' is not allowed",
                "plain YAML data (a spec is data, never code)")


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
        SpecError: With positioned problems: syntax errors, tags, duplicate or non-string
            keys, non-finite numbers, too many nodes, too deep, several documents, empty file.

    Example:
    >>> spec = load_text("modelspec: 1\\nname: lenet5\\n", "lenet5.yaml")
    >>> spec.data["name"], spec.source.values[("name",)]
    ('lenet5', (2, 7))
    """
    loader = _Loader(text, filename)
    try:
        if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            loader.abort(1, 1, (), f"the file is larger than the {MAX_BYTES // 2**20} MB limit",
                         f"a spec under {MAX_BYTES // 2**20} MB")
        root = loader.compose()
        if root is None or (root.kind == "scalar" and root.plain and root.tag is None
                            and root.value == ""):
            loader.abort(1, 1, (), "the file is empty", SPEC_EXPECTED)
        data = loader.convert(root, ())
        if not isinstance(data, dict) and not loader.problems:
            loader.problem(root.line, root.col, (),
                           f"the document is {_kind_name(data)}, not a mapping", SPEC_EXPECTED)
    except _Abort:
        pass
    if loader.problems:
        raise SpecError(loader.problems)
    return LoadedSpec(data=data, source=loader.source, path=path, text=text)


def load(path_or_text, *, filename: str | None = None) -> LoadedSpec:
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
    >>> spec.source.position(("model", "layers", 0))
    (7, 7)
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return load_text(path_or_text, filename or "<string>")
    given = os.fspath(path_or_text)
    name = filename or given
    path = Path(given)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise UsageError(f"{name}: is a directory — expected a YAML spec file")
        if size > MAX_BYTES:
            raise SpecError([Problem(name, 1, 1, "<root>", f"the file is {size / 2**20:.1f} MB, "
                                     f"larger than the {MAX_BYTES // 2**20} MB limit",
                                     f"a spec under {MAX_BYTES // 2**20} MB")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file — expected a path to a YAML spec file") from None
    except OSError as err:
        raise UsageError(f"{name}: cannot read the file ({err.strerror or err}) — expected a "
                         "readable YAML spec file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError([Problem(name, line, col, "<root>",
                                 f"the file is not valid UTF-8 (byte 0x{raw[err.start]:02x})",
                                 "UTF-8 text")]) from None
    return load_text(text, name, path=path.absolute())
