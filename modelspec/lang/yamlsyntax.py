"""YAML syntax errors in the user's words: ruamel's scanner/parser messages reworded.

ruamel.yaml reports what its parser expected ("expected <block end>, but found '-'"); a spec's
author needs what is wrong in their text and what to write instead ("unexpected list item:
the indentation does not match the block"). Used by `modelspec.lang.yamlio`.
"""

from __future__ import annotations

from typing import Any


def explain_syntax_error(err: Any, text: str) -> tuple[int, int, str, str]:
    """Turns a ruamel scanner/parser error into (line, col, message, expected)."""
    problem, context = str(err.problem or "invalid YAML"), str(err.context or "")
    mark, cmark = err.problem_mark or err.context_mark, err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    where = f" (started at line {cmark.line + 1})" if cmark else ""
    if problem.startswith("found character '\\t'"):
        before = (text.splitlines() + [""])[mark.line][:mark.column] if mark else ""
        return line, col, ("tab characters are not allowed for indentation" if not
                           before.strip() else "a tab character is not allowed here"), "spaces"
    if problem.startswith("found character") and "cannot start any token" in problem:
        return line, col, f"a plain value cannot start with {problem.split()[2]}", \
            "the value in quotes"
    if problem == "mapping values are not allowed here":
        return line, col, "unexpected ':' in a value", "a nested mapping on its own indented " \
            "line, or quotes around a value that contains ': '"
    if problem == "could not find expected ':'" and cmark:
        return (cmark.line + 1, cmark.column + 1, "this line is neither 'key: value' nor a list "
                "item", "'key: value' (or '- item' inside a list)")
    found = {"'<block mapping start>'": "mapping entry", "'?'": "mapping key", "'-'": "list "
             "item", "'<block sequence start>'": "list item"}.get(problem.split("found ")[-1])
    if problem.startswith("expected <block end>, but found") and found:
        return (line, col, f"unexpected {found}: the indentation does not match the block{where}",
                "entries of one block indented by the same number of spaces")
    if problem.startswith("expected ") and ", but " in problem:
        wanted, got = problem[len("expected "):].replace("<block end>", "the end of the "
                                                         "block").split(", but ", 1)
        what = context.replace("while parsing a ", "") or "block"
        return line, col, f"unexpected {got.split(' ', 1)[-1]} in a {what}{where}", wanted
    if problem == "found unexpected end of stream" and "quoted" in context:
        return line, col, f"the quoted string is never closed{where}", "a closing quote"
    detail = f" ({context}{where.replace(' (', ', ')[:-1]})" if context else ""
    return line, col, problem + detail, "valid YAML"
