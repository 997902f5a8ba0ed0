"""Behaviour the rest of the provider relies on, checked directly."""

from __future__ import annotations

import pickle
import time

import pytest

from airflow_argo_provider.expressions import (
    ExpressionError,
    aggregate_results,
    check_template,
    evaluate,
    evaluate_depends,
    evaluate_when,
    substitute,
    template_variables,
)
from airflow_argo_provider.expressions.limits import MAX_SECONDS
from airflow_argo_provider.expressions.regex import compile_regex


def test_http_success_condition() -> None:
    condition = 'response.statusCode == 200 && response.body contains "userId"'
    ok = {"response": {"statusCode": 200, "body": '{"userId": 1}', "headers": {}}}
    assert evaluate(condition, ok) is True
    assert evaluate(condition, {"response": {**ok["response"], "statusCode": 404}}) is False
    assert evaluate(condition, {"response": {**ok["response"], "body": "{}"}}) is False


def test_when_compares_bare_words() -> None:
    assert evaluate_when("heads == heads") is True
    assert evaluate_when("heads == tails") is False


def test_fan_in_of_three_children() -> None:
    scope = {"tasks.fetch-all.outputs.result": aggregate_results(['{"id":1}', '{"id":2}', '{"id":3}'])}
    assert substitute("{{tasks.fetch-all.outputs.result}}", scope) == '[{"id":1},{"id":2},{"id":3}]'
    assert (
        evaluate(
            "len(fromJSON(tasks['fetch-all'].outputs.result))",
            {"tasks": {"fetch-all": {"outputs": {"result": scope["tasks.fetch-all.outputs.result"]}}}},
        )
        == 3
    )


def test_substituted_values_are_data() -> None:
    scope = {"inputs.parameters.p": "{{ 7*7 }}", "inputs.parameters.q": "{{inputs.parameters.p}} {% x %}"}
    assert substitute("say {{inputs.parameters.p}}!", scope) == "say {{ 7*7 }}!"
    assert substitute("{{inputs.parameters.q}}", scope) == "{{inputs.parameters.p}} {% x %}"


def test_error_attributes_and_message() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("1 + ", {})
    error = info.value
    assert error.expression == "1 + "
    assert error.position == 4
    assert "unexpected end of expression" in error.message
    assert "'1 + '" in str(error) and "position 4" in str(error)
    assert "\n" not in str(ExpressionError("a\nb", "x\ny", 1))
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_strict_error_names_the_variable() -> None:
    with pytest.raises(ExpressionError, match="workflow.parameters.nope"):
        substitute("x {{workflow.parameters.nope}}", {})
    with pytest.raises(ExpressionError) as info:
        substitute("ab {{=1 +}}", {})
    assert info.value.position == 9


def test_check_template_positions() -> None:
    check_template("{{a}} {{=b.c['d']}} plain")
    with pytest.raises(ExpressionError) as info:
        check_template("ok {{= 1 + }}")
    assert info.value.position is not None and info.value.position >= 3
    with pytest.raises(ExpressionError) as info:
        check_template("ok {{ unclosed")
    assert info.value.position == 3


def test_template_variables_order() -> None:
    assert template_variables("{{b}} {{=a.x + b}}") == ["b", "a.x"]


def test_evaluate_depends_continue_on_widens_bare_names() -> None:
    assert evaluate_depends("A", {"A": "Failed"}) is False
    assert evaluate_depends("A", {"A": "Failed"}, {"A": (True, False)}) is True


@pytest.mark.parametrize(
    "expression",
    [
        "cfg.__class__.__mro__",
        "cfg['__class__']",
        "s.__len__()",
        "s.format(1)",
        "__builtins__",
        "cfg.get('a')",
        "getattr(cfg, 'x')",
        "open('/etc/passwd')",
        "eval('1')",
    ],
)
def test_no_python_attribute_is_reachable(expression: str) -> None:
    env = {"cfg": {"a": 1}, "s": "text"}
    try:
        result = evaluate(expression, env)
    except ExpressionError:
        return
    assert result is None  # a missing map key, never a Python object


def test_env_callables_are_never_called() -> None:
    called = []
    env = {"f": lambda: called.append(1)}
    with pytest.raises(ExpressionError):
        evaluate("f()", env)
    assert not called


@pytest.mark.parametrize(
    "expression",
    [
        "1..10**12",
        "1..1000000000000",
        "repeat('x', 1000000000)",
        "len(repeat('ab', 400000) + repeat('ab', 400000))",
        "map(1..100000, map(1..100000, #))",
        "reduce(1..100000, #acc + 'xxxxxxxxxxxxxxxxxxxx', '')",
        "2 ** 1000000000",
        "sprig.until(100000000)",
        "'" + "a" * 30000 + "' matches '(a+)+$'",
    ],
)
def test_work_is_bounded(expression: str) -> None:
    start = time.monotonic()
    try:
        evaluate(expression, {})
    except ExpressionError:
        pass
    assert time.monotonic() - start < MAX_SECONDS + 0.5


def test_deep_nesting_is_rejected_not_crashing() -> None:
    # Redundant parentheses build no syntax-tree level, so they are harmless.
    assert evaluate("(" * 5000 + "1" + ")" * 5000, {}) == 1
    for text in ["[" * 5000 + "]" * 5000, "-" * 5000 + "1", "!" * 3000 + "true", "a" + ".b" * 5000]:
        with pytest.raises(ExpressionError, match="nests deeper"):
            evaluate(text, {"a": {}})
    with pytest.raises(ExpressionError):
        evaluate("fromJSON(s)", {"s": "[" * 100000 + "]" * 100000})
    with pytest.raises(ExpressionError):
        evaluate_when("(" * 3000 + "1 == 1" + ")" * 3000)


def test_long_associative_chains_are_fine() -> None:
    names = [f"t{i}" for i in range(300)]
    results = dict.fromkeys(names, "Succeeded")
    assert evaluate_depends(" && ".join(names), results) is True
    assert evaluate(" + ".join(["1"] * 2000), {}) == 2000


def test_regex_is_linear_time() -> None:
    start = time.monotonic()
    assert compile_regex(".*a.*a.*b").search("a" * 20000) is False
    assert compile_regex("(x+x+)+y").search("x" * 5000) is False
    assert time.monotonic() - start < 2
    for pattern in ["(?=a)", r"\1", "a**", "(", "[z-a]"]:
        with pytest.raises(ExpressionError):
            compile_regex(pattern)


def test_cached_evaluation_is_cheap() -> None:
    env = {"response": {"statusCode": 200, "body": "userId"}}
    expression = 'response.statusCode == 200 && response.body contains "userId"'
    evaluate(expression, env)
    start = time.monotonic()
    for _ in range(5000):
        evaluate(expression, env)
    assert time.monotonic() - start < 1.0


def test_regex_runs_on_re2_with_go_semantics() -> None:
    """google-re2 behind Go's rules: messages, character offsets, successive empty matches."""
    with pytest.raises(ExpressionError, match=r"error parsing regexp: missing closing \): `\(`"):
        compile_regex("(")
    with pytest.raises(ExpressionError, match="invalid nested repetition operator"):
        compile_regex("a**")
    with pytest.raises(ExpressionError, match="invalid or unsupported Perl syntax"):
        compile_regex("(?=a)")
    # Go's FindAllStringIndex: no empty match right after a match; offsets in characters, not bytes.
    assert compile_regex("a*").find_all("baaac") == [[0, 0], [1, 4], [5, 5]]
    assert compile_regex("\u00e9*").find_all("a\u00e9b\u00e9\u00e9") == [[0, 0], [1, 2], [3, 5]]
    assert compile_regex(r"(?P<word>\p{Greek}+)").find("abc \u03b1\u03b2\u03b3") == [4, 7, 4, 7]
    # ^ and \b see the whole text, not the slice after the previous match.
    assert compile_regex("^a").find_all("aaa") == [[0, 1]]
    # A lone surrogate (from JSON) is matched as U+FFFD, as Go reads invalid UTF-8.
    assert compile_regex(".").search("\ud800") is True
    with pytest.raises(ExpressionError, match="too long for a regular expression"):
        compile_regex("a").search("a" * 100_001)
