"""Safe arithmetic for `$(expression)` values and `if:` conditions.

Expressions are parsed with Python's `ast` module (parsing only — nothing is ever compiled
or executed) and evaluated by walking a closed set of node types: numbers, quoted strings (to
compare and choose, e.g. `$('same' if small else 'valid')`; no string arithmetic), `true`/`false`,
parameter names, + - * / // % **, unary minus/plus, parentheses, comparisons, `and`/`or`/
`not`, `x if c else y`, and the functions `min`, `max`, `abs`, `int`, `round`. Anything else
(attributes, subscripts, lambdas, other calls) is rejected with the offending piece named.
Powers are bounded so `$(10 ** 10 ** 10)` cannot hang the checker.

Example:
>>> evaluate("filters * 2 ** stage", {"filters": 64, "stage": 2})
256
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs, "int": int,
                                             "round": round}
_CONSTANTS = {"true": True, "false": False}
_MAX_MAGNITUDE = 1e15
_MAX_LENGTH = 500
_MAX_DIGITS = 30  # round()'s ndigits: any result beyond ±1e15 is refused anyway

ALLOWED = ("numbers, 'strings', parameter names, + - * / // % **, comparisons, and/or/not, "
           "x if c else y, min/max/abs/int/round")
_MAX_STRING = 200
REF_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
REF_EXPR = re.compile(r"^\$\((.*)\)$", re.S)


class ExpressionError(ValueError):
    """An expression that is malformed, unsafe, or refers to an unknown name.

    Args:
        message: What is wrong.
        name: The unknown name, when that is the problem (for did-you-mean).
        expected: What was expected instead (for the "— expected ..." part of the message).
    """

    def __init__(self, message: str, name: str | None = None,
                 expected: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.expected = expected or ("a parameter defined under 'params:'" if name else ALLOWED)


def is_reference(value: object) -> bool:
    """True for strings of the form `$name` or `$(expression)`."""
    return isinstance(value, str) and bool(REF_NAME.match(value) or REF_EXPR.match(value))


def evaluate_reference(value: str, names: Mapping[str, Any]) -> Any:
    """Evaluates `$name` or `$(expression)` against `names`.

    Raises:
        ExpressionError: If the reference is malformed, unsafe or names an unknown parameter.
    """
    match = REF_NAME.match(value)
    if match:
        name = match.group(1)
        if name not in names:
            raise ExpressionError(f"unknown parameter '{name}'", name=name)
        return names[name]
    match = REF_EXPR.match(value)
    if not match:
        raise ExpressionError(f"'{value}' is not a parameter reference",
                              expected="'$name' or '$(expression)'")
    return evaluate(match.group(1), names)


def evaluate(text: str, names: Mapping[str, Any]) -> Any:
    """Evaluates a safe arithmetic expression.

    Args:
        text: The expression, e.g. `filters * 2` or `stage > 0 and project`.
        names: Values of the names the expression may use (the spec's params).

    Returns:
        An int, float or bool.

    Raises:
        ExpressionError: With a message naming what is not allowed or unknown.
    """
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {_MAX_LENGTH} characters",
                              expected="a short arithmetic expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"invalid expression '{text.strip()}': {err.msg}") from None
    try:
        return _check_size(_eval(tree.body, names))
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply",
                              expected="a short arithmetic expression") from None
    except (TypeError, ValueError, OverflowError) as err:
        if isinstance(err, ExpressionError):
            raise
        raise ExpressionError(f"cannot evaluate '{text.strip()}': {err}",
                              expected="numbers (or true/false) on both sides of "
                              "each operator") from None


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"{value!r} is not a number", expected="numbers on both sides "
                              "of + - * / // % ** and in min/max/abs/int/round")
    return value


def _check_size(value: Any) -> Any:
    if isinstance(value, complex):
        raise ExpressionError("the expression's result is a complex number",
                              expected="a real number (no fractional power of a negative "
                              "number)")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError("the expression's result is not a finite number",
                                  expected="a finite number")
        if abs(value) > _MAX_MAGNITUDE:
            raise ExpressionError(f"the expression's result {value:.3g} is too large",
                                  expected=f"a magnitude of at most {_MAX_MAGNITUDE:.0e}")
    return value


def _check_arguments(function: str, args: list[int | float]) -> None:
    """Bounds a function's arguments before it runs: `round(12345, -10**9)` would compute
    10**(10**9) inside Python's `round`, long before the result could be checked."""
    if function == "round" and len(args) == 2:
        digits = args[1]
        if not isinstance(digits, int) or abs(digits) > _MAX_DIGITS:
            raise ExpressionError(f"round(): {_short(digits)} digits is out of range",
                                  expected=f"an integer number of digits between "
                                  f"-{_MAX_DIGITS} and {_MAX_DIGITS}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


Names = Mapping[str, Any]  # the values an expression may name (the spec's params)


def _eval(node: ast.expr, names: Names) -> Any:
    """Evaluates one node through the handler of its type; any other node is refused."""
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed in expressions")
    return handler(node, names)


def _constant(node: ast.Constant, names: Names) -> Any:
    if isinstance(node.value, str) and len(node.value) <= _MAX_STRING:
        return node.value
    if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise ExpressionError("only numbers and short quoted strings are allowed in "
                              f"expressions, got {_short(node.value)}")
    return node.value


def _name(node: ast.Name, names: Names) -> Any:
    if node.id in names:
        return names[node.id]
    if node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    raise ExpressionError(f"unknown parameter '{node.id}'", name=node.id)


def _binary(node: ast.BinOp, names: Names) -> Any:
    if type(node.op) not in _BINARY:
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed in expressions")
    left = _number(_eval(node.left, names))
    right = _number(_eval(node.right, names))
    if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6 and right > 2):
        raise ExpressionError("power too large in expression",
                              expected=f"a result of at most {_MAX_MAGNITUDE:.0e}")
    try:
        return _check_size(_BINARY[type(node.op)](left, right))
    except ZeroDivisionError:
        raise ExpressionError(f"division by zero in '{ast.unparse(node)}'",
                              expected="a divisor that is not zero") from None


def _unary(node: ast.UnaryOp, names: Names) -> Any:
    """`-x`, `+x`, `not x`; a run of them (`--x`) is applied in a loop, not a recursion."""
    chain = [node]
    while isinstance(chain[-1].operand, ast.UnaryOp):
        chain.append(chain[-1].operand)
    value = _eval(chain[-1].operand, names)
    for op in reversed(chain):
        if isinstance(op.op, ast.Not):
            value = not value
        elif isinstance(op.op, ast.USub):
            value = -_number(value)
        elif isinstance(op.op, ast.UAdd):
            value = +_number(value)
        else:
            raise ExpressionError(f"'{ast.unparse(op)}' is not allowed in expressions")
    return value


def _boolean(node: ast.BoolOp, names: Names) -> bool:
    values = [_eval(v, names) for v in node.values]
    return all(values) if isinstance(node.op, ast.And) else any(values)


def _compare(node: ast.Compare, names: Names) -> bool:
    left = _eval(node.left, names)
    for op, comparator in zip(node.ops, node.comparators):
        if type(op) not in _COMPARE:
            raise ExpressionError(f"operator '{type(op).__name__}' is not allowed")
        right = _eval(comparator, names)
        if type(op) not in (ast.Eq, ast.NotEq) and \
                isinstance(left, str) != isinstance(right, str):
            raise ExpressionError(f"cannot order {_short(left)} and {_short(right)} in "
                                  f"'{ast.unparse(node)}'",
                                  expected="two numbers or two strings (== and != "
                                  "compare anything)")
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True


def _choice(node: ast.IfExp, names: Names) -> Any:
    return _eval(node.body, names) if _eval(node.test, names) else _eval(node.orelse, names)


def _call(node: ast.Call, names: Names) -> Any:
    if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and not node.keywords):
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed in expressions")
    args = [_number(_eval(a, names)) for a in node.args]
    if not args:
        raise ExpressionError(f"{node.func.id}() needs arguments")
    _check_arguments(node.func.id, args)
    try:
        return _check_size(_FUNCTIONS[node.func.id](*args))
    except TypeError as err:
        raise ExpressionError(f"{node.func.id}(): {err}") from None


# The closed set of node types an expression may contain, each with its evaluator.
_HANDLERS: dict[type[ast.expr], Callable[[Any, Names], Any]] = {
    ast.Constant: _constant, ast.Name: _name, ast.BinOp: _binary, ast.UnaryOp: _unary,
    ast.BoolOp: _boolean, ast.Compare: _compare, ast.IfExp: _choice, ast.Call: _call,
}
