"""Which tables a transform's SQL reads, and SQL that does not parse."""

from __future__ import annotations

import pytest

from chaintap.errors import ConfigError
from chaintap.spec.sqlrefs import SqlSyntaxError, parse_predicate, table_refs
from spec.helpers import line_of, problems_of


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM `my-logs`", ("my-logs",)),
        ('SELECT * FROM "my-logs"', ("my-logs",)),
        ("SELECT * FROM `a` JOIN `b` ON a.id = b.id", ("a", "b")),
        (
            "SELECT * FROM a UNION ALL SELECT * FROM b UNION ALL SELECT * FROM a",
            ("a", "b"),
        ),
        ("WITH x AS (SELECT * FROM logs) SELECT * FROM x", ("logs",)),
        # A CTE named like a node still reads the node inside its own body.
        ("WITH logs AS (SELECT * FROM logs) SELECT * FROM logs", ("logs",)),
        (
            "SELECT * FROM (SELECT * FROM c) s WHERE s.x IN (SELECT y FROM d)",
            ("c", "d"),
        ),
        ("SELECT * FROM db.t", ("db.t",)),
        ("SELECT a::bigint, x ->> 'k' FROM t", ("t",)),
        (
            "SELECT _gs_log_decode('[]', topics, data) AS d FROM raw_logs "
            "WHERE split_part(topics, ',', 1) = '0xab'",
            ("raw_logs",),
        ),
        ("SELECT 1", ()),
    ],
)
def test_table_refs(sql: str, tables: tuple[str, ...]) -> None:
    assert table_refs(sql) == tables


@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        ("SELECT * FORM logs", "Unexpected token"),
        ("SELECT * FROM logs WHERE", "incomplete expression"),
        ("SELECT 1; SELECT 2", "exactly one SELECT query, found 2"),
        ("INSERT INTO t SELECT * FROM logs", "found a INSERT statement"),
        ("DROP TABLE logs", "found a DROP statement"),
        ("   ", "is empty"),
        ("SELECT 'unterminated FROM logs", "unclosed quote"),
    ],
)
def test_bad_queries(sql: str, needle: str) -> None:
    with pytest.raises(SqlSyntaxError, match=needle) as caught:
        table_refs(sql)
    assert isinstance(caught.value, ConfigError)


def test_syntax_error_knows_its_line_in_the_sql() -> None:
    with pytest.raises(SqlSyntaxError) as caught:
        table_refs("SELECT *\nFROM logs\nWHERE id = = 1")
    assert caught.value.line == 3


@pytest.mark.parametrize(
    "text",
    ["SELECT 1", "a = 1; DROP TABLE x", "", "block_number <"],
)
def test_predicates_must_be_single_expressions(text: str) -> None:
    with pytest.raises(SqlSyntaxError):
        parse_predicate(text)


def test_backtick_column_in_a_predicate() -> None:
    assert parse_predicate("`block_number` < 5") is not None


def test_sql_error_in_a_file_points_at_the_sql_key() -> None:
    text = (
        "name: p\n"
        "sources: {logs: {type: dataset, dataset_name: base.raw_logs}}\n"
        "transforms:\n"
        "  t:\n"
        "    type: sql\n"
        "    primary_key: id\n"
        "    sql: |\n"
        "      SELECT *\n"
        "      FROM `logs`\n"
        "      WHERE address = = 'x'\n"
        "sinks: {out: {type: blackhole, from: t}}\n"
    )
    (problem,) = problems_of(text)
    assert (problem.path, problem.line) == ("transforms.t.sql", line_of(text, "sql: |"))
    assert problem.message.startswith("SQL does not parse: ")
    assert "(line 3 of the SQL" in problem.message


def test_backtick_sql_in_a_file_loads() -> None:
    from chaintap.spec.loader import load_pipeline_text

    text = (
        "name: p\n"
        "sources: {my-logs: {type: dataset, dataset_name: base.raw_logs}}\n"
        "transforms:\n"
        "  t: {type: sql, primary_key: id, sql: 'SELECT `id` FROM `my-logs`'}\n"
        "sinks: {out: {type: blackhole, from: t}}\n"
    )
    assert load_pipeline_text(text).transforms["t"].inputs == ("my-logs",)


def test_query_reading_nothing_is_a_problem() -> None:
    text = (
        "name: p\n"
        "sources: {logs: {type: dataset, dataset_name: base.raw_logs}}\n"
        "transforms: {t: {type: sql, primary_key: id, sql: SELECT 1 AS id}}\n"
        "sinks: {out: {type: blackhole, from: t}}\n"
    )
    (problem,) = problems_of(text)
    assert problem.message == "the query reads no source or transform"
