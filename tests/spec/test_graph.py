"""References between nodes, cycles among transforms, and the transform order."""

from __future__ import annotations

from chaintap.spec.graph import find_cycles, transform_order
from chaintap.spec.loader import load_pipeline_text
from spec.helpers import line_of, problems_of


def _with_transforms(transforms: str, sink_from: str = "logs") -> str:
    return (
        "name: p\n"
        "sources:\n"
        "  logs: {type: dataset, dataset_name: base.raw_logs}\n"
        f"transforms:\n{transforms}"
        f"sinks:\n  out: {{type: blackhole, from: {sink_from}}}\n"
    )


def _sql(name: str, query: str) -> str:
    return f"  {name}: {{type: sql, primary_key: id, sql: '{query}'}}\n"


def test_two_transforms_reading_each_other() -> None:
    text = _with_transforms(_sql("a", "SELECT * FROM b") + _sql("b", "SELECT * FROM a"))
    (problem,) = problems_of(text)
    assert problem.path == "transforms.a"
    assert problem.line == line_of(text, "  a:")
    assert problem.message == "transforms read each other in a cycle: a -> b -> a"


def test_transform_reading_itself() -> None:
    (problem,) = problems_of(_with_transforms(_sql("me", "SELECT * FROM me")))
    assert problem.message.endswith("cycle: me -> me")


def test_each_knot_is_reported_once_and_the_path_follows_data_flow() -> None:
    transforms = (
        _sql("start", "SELECT * FROM logs")
        + _sql("x", "SELECT * FROM start UNION ALL SELECT * FROM z")
        + _sql("y", "SELECT * FROM x")
        + _sql("z", "SELECT * FROM y")
        + _sql("p", "SELECT * FROM q")
        + _sql("q", "SELECT * FROM p")
    )
    problems = problems_of(_with_transforms(transforms))
    assert [p.message.split(": ", 1)[1] for p in problems] == [
        "x -> y -> z -> x",
        "p -> q -> p",
    ]


def test_transform_order_puts_inputs_first() -> None:
    transforms = (
        _sql("last", "SELECT * FROM mid JOIN first ON TRUE")
        + _sql("mid", "SELECT * FROM first")
        + _sql("first", "SELECT * FROM logs")
    )
    spec = load_pipeline_text(_with_transforms(transforms, sink_from="last"))
    assert spec.transform_order == ("first", "mid", "last")


def test_order_is_stable_for_independent_transforms() -> None:
    inputs = {"b": ("src",), "a": ("src",), "c": ("a", "b")}
    assert transform_order(inputs) == ("b", "a", "c")


def test_find_cycles_ignores_sources_and_acyclic_graphs() -> None:
    assert find_cycles({"a": ("src",), "b": ("a", "src"), "c": ("a", "b")}) == []
    assert find_cycles({"a": ("b",), "b": ("c",), "c": ("a",), "d": ("c",)}) == [
        ("a", "c", "b", "a")
    ]


def test_find_cycles_on_a_long_chain_does_not_recurse() -> None:
    # Deeper than Python's default recursion limit, closed into one loop.
    size = 5000
    inputs = {f"t{i}": (f"t{i + 1}",) for i in range(size)}
    inputs[f"t{size}"] = ("t0",)
    (cycle,) = find_cycles(inputs)
    assert len(cycle) == size + 2
    assert cycle[0] == cycle[-1] == "t0"


def test_references_inside_ctes_and_subqueries_count() -> None:
    transforms = _sql(
        "t",
        "WITH w AS (SELECT * FROM missing_one) "
        "SELECT * FROM w WHERE id IN (SELECT id FROM missing_two)",
    )
    problems = problems_of(_with_transforms(transforms))
    assert [p.message for p in problems] == [
        "t reads 'missing_one', which is no source or transform",
        "t reads 'missing_two', which is no source or transform",
    ]
    assert {p.path for p in problems} == {"transforms.t.sql"}
