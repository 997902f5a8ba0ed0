from __future__ import annotations

import pytest

from airflow_argo_provider.manifest.yaml_source import YamlSyntaxError, format_path, read_documents


def test_lines_of_fields_and_items() -> None:
    text = "a: 1\nspec:\n  templates:\n  - name: x\n    steps:\n    - - name: s\n"
    (doc,) = read_documents(text)
    assert doc.value["spec"]["templates"][0]["name"] == "x"
    assert doc.line_of(("a",)) == 1
    assert doc.line_of(("spec", "templates", 0, "name")) == 4
    assert doc.line_of(("spec", "templates", 0, "steps", 0, 0, "name")) == 6
    # A path that does not exist falls back to its nearest known ancestor.
    assert doc.line_of(("spec", "templates", 0, "nothing", "here")) == 4


def test_multiple_documents_keep_their_index_and_start_line() -> None:
    text = "kind: A\n---\n---\nkind: B\nx: 1\n"
    docs = list(read_documents(text))
    assert [d.value["kind"] for d in docs] == ["A", "B"]
    assert [d.index for d in docs] == [0, 2]
    assert docs[1].line == 4
    assert docs[1].line_of(("x",)) == 5


def test_syntax_error_reports_line() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        list(read_documents("a: 1\nb: [1, 2\nc: 3\n"))
    assert info.value.line == 3
    assert "invalid YAML" in info.value.message


def test_duplicate_keys_are_recorded() -> None:
    (doc,) = read_documents("a: 1\nb: 2\na: 3\n")
    assert doc.duplicate_keys == [(("a",), 3)]


def test_only_safe_constructors() -> None:
    with pytest.raises(YamlSyntaxError):
        list(read_documents("a: !!python/object/apply:os.system ['echo hi']\n"))


def test_format_path() -> None:
    assert format_path(("spec", "templates", 2, "steps", 0, 0, "withItem")) == "spec.templates[2].steps[0][0].withItem"
