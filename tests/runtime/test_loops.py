"""Fan-out items: sequences, names and chunks."""

from __future__ import annotations

import pytest

from airflow_argo_provider.plan.model import Loop
from airflow_argo_provider.runtime.loops import (
    LoopError,
    batch_label,
    batches,
    child_name,
    expand_items,
    expand_sequence,
)


def test_sequence_count_start_end_format() -> None:
    assert expand_sequence({"count": "3"}) == ["0", "1", "2"]
    assert expand_sequence({"count": "5", "start": "1"}) == ["1", "2", "3", "4", "5"]
    assert expand_sequence({"start": "5", "end": "8"}) == ["5", "6", "7", "8"]
    assert expand_sequence({"start": "3", "end": "1"}) == ["3", "2", "1"]
    assert expand_sequence({"count": "0"}) == []
    assert expand_sequence({"start": "1", "end": "3", "format": "test%02X"}) == ["test01", "test02", "test03"]
    with pytest.raises(LoopError, match="integer"):
        expand_sequence({"count": "many"})
    with pytest.raises(LoopError, match="count or end"):
        expand_sequence({"start": "1"})


def test_items_and_params() -> None:
    loop = Loop("items", items=[{"os": "debian", "v": 9}, "{{inputs.parameters.x}}"])
    assert expand_items(loop, lambda text: text.replace("{{inputs.parameters.x}}", "X")) == [
        {"os": "debian", "v": 9},
        "X",
    ]
    assert expand_items(Loop("param", param="[1, 2]"), lambda t: t) == [1, 2]
    with pytest.raises(LoopError, match="JSON list"):
        expand_items(Loop("param", param='{"a": 1}'), lambda t: t)
    with pytest.raises(LoopError, match="could not be parsed"):
        expand_items(Loop("param", param="not json"), lambda t: t)


def test_child_names_follow_argo() -> None:
    assert child_name("fetch-all", 3, "4") == "fetch-all(3:4)"
    assert child_name("A", 0, {"name": "jesse", "group": "developer"}) == "A(0:group:developer,name:jesse)"
    assert child_name("A", 1, 2.5) == "A(1:2.5)"
    assert child_name("A", 2, True) == "A(2:true)"


def test_batches_split_only_beyond_the_limit() -> None:
    items = list(range(10))
    assert [len(b) for b in batches(items, 20)] == [1] * 10
    chunks = batches(items, 4)
    assert [len(b) for b in chunks] == [3, 3, 3, 1]
    assert [e["index"] for b in chunks for e in b] == items
    assert batch_label("x", chunks[0]) == "x(0..2)"
    assert [len(b) for b in batches(items, 1024, per_task=4)] == [4, 4, 2]
