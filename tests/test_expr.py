"""The safe arithmetic evaluator of `$(expression)` and `if:`."""

from __future__ import annotations

import time

import pytest

from modelspec.lang.expr import ExpressionError, evaluate, evaluate_reference, is_reference

NAMES = {"filters": 64, "stage": 2, "rate": 0.5, "project": True, "act": "relu"}


@pytest.mark.parametrize("text,value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("7 // 2", 3), ("7 % 4", 3),
    ("2 ** 10", 1024), ("-filters", -64), ("+rate", 0.5), ("filters * 2 ** stage", 256),
    ("min(filters, 32)", 32), ("max(1, stage, 3)", 3), ("abs(-3)", 3), ("int(rate * 5)", 2),
    ("round(2.6)", 3), ("stage > 1", True), ("stage == 2 and not project", False),
    ("stage >= 2 or false", True), ("1 < stage < 3", True), ("filters if project else 1", 64),
    ("true", True), ("1e-3 * 2", 0.002),
])
def test_arithmetic(text, value):
    assert evaluate(text, NAMES) == value


@pytest.mark.parametrize("text,message", [
    ("__import__('os').system('true')", "is not allowed in expressions"),
    ("filters.real", "is not allowed in expressions"),
    ("[1, 2][0]", "is not allowed in expressions"),
    ("lambda: 1", "is not allowed in expressions"),
    ("open('x')", "is not allowed in expressions"),
    ("min(*[1])", "is not allowed in expressions"),
    ("'text' * 2", "'text' is not a number"),
    ("'a' < 2", "cannot order 'a' and 2 in ''a' < 2'"),
    ("'" + "x" * 201 + "'", "only numbers and short quoted strings are allowed"),
    ("round(2.5, ndigits=1)", "is not allowed in expressions"),
    ("1 / 0", "division by zero in '1 / 0'"),
    ("filters % (stage - 2)", "division by zero"),
    ("10 ** 10 ** 10", "power too large"),
    ("2 ** 64", "too large"),
    ("1e300 * 1e300", "not a finite number"),
    ("(-8) ** 0.5", "complex number"),
    ("act > 1", "cannot order 'relu' and 1 in 'act > 1'"),
    ("act * 2", "'relu' is not a number"),
    ("max()", "max() needs arguments"),
    ("1 +", "invalid expression '1 +'"),
    ("x" * 600, "longer than 500 characters"),
    ("1 in [1]", "is not allowed"),
])
def test_unsafe_or_invalid_expressions_are_rejected(text, message):
    with pytest.raises(ExpressionError, match=None) as info:
        evaluate(text, NAMES)
    assert message in str(info.value)
    assert info.value.expected


def test_unknown_name_carries_the_name_for_did_you_mean():
    with pytest.raises(ExpressionError) as info:
        evaluate("filtres * 2", NAMES)
    assert str(info.value) == "unknown parameter 'filtres'"
    assert info.value.name == "filtres"
    assert info.value.expected == "a parameter defined under 'params:'"


def test_references():
    assert is_reference("$filters") and is_reference("$(filters * 2)")
    assert not is_reference("filters") and not is_reference("$1x") and not is_reference(3)
    assert evaluate_reference("$filters", NAMES) == 64
    assert evaluate_reference("$act", NAMES) == "relu"         # a name may hold any value
    assert evaluate_reference("$(filters // 3)", NAMES) == 21
    with pytest.raises(ExpressionError, match="unknown parameter 'nope'"):
        evaluate_reference("$nope", NAMES)


def test_hostile_expressions_finish_quickly():
    started = time.perf_counter()
    for text in ["9 ** 9 ** 9", "(10 ** 15) * (10 ** 15)", "max(" + "1," * 200 + "1)",
                 "((((((((((((((((((((1))))))))))))))))))))"]:
        try:
            evaluate(text, {})
        except ExpressionError:
            pass
    assert time.perf_counter() - started < 0.5


def test_evaluation_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ExpressionError):
        evaluate(f"__import__('pathlib').Path('{marker}').touch()", {})
    assert not marker.exists()


def test_quoted_strings_choose_and_compare():
    assert evaluate("'same' if small else 'valid'", {"small": False}) == "valid"
    assert evaluate("activation == 'tanh' and units > 2",
                    {"activation": "tanh", "units": 3}) is True
    assert evaluate("'b' > 'a'", {}) is True


@pytest.mark.parametrize("text", ["round(12345, -10**9)", "round(1, 10**12)", "round(2.5, 1e9)"])
def test_round_digits_are_bounded_before_round_runs(text):
    """Finding 1 of issue 15: `round(12345, -10**9)` hung `validate` for minutes."""
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match=r"round\(\): .* digits is out of range"):
        evaluate(text, {})
    assert time.perf_counter() - start < 0.1
    assert evaluate("round(12345, -2)", {}) == 12300


def test_deeply_nested_expression_is_an_error_not_a_crash():
    assert evaluate("-" * 498 + "1", {}) == 1
    with pytest.raises(ExpressionError):
        evaluate("(" * 240 + "1" + ")" * 240, {})
