"""A file with many mistakes yields every problem, each with its path and line."""

from __future__ import annotations

import pytest

from chaintap.errors import ConfigError
from chaintap.spec.loader import load_pipeline_text
from chaintap.spec.problems import PipelineInvalid, Problem
from spec.helpers import by_path, line_of, problems_of

MANY_MISTAKES = """\
name: My Pipeline
resource_size: huge
job: "yes"
sinkz: {}

sources:
  logs:
    type: dataset
    dataset_name: ethereum.transactions
    start_block: "100"
    end_blok: 200
  blocks:
    type: dataset
    dataset_name: ethereum.blocks
    version: 9.9.9
    start_block: -5
    confirmations: many
  ranges:
    type: dataset
    dataset_name: solana.blocks
    block_ranges: [[10, 5], [1, 2]]
  kafka_in:
    type: kafka

transforms:
  decoded:
    type: sql
    sql: SELECT * FROM logz
  broken:
    type: sql
    primary_key: id
    sql: |
      SELECT *
      FROM logs WHERE
  scripted:
    type: script

sinks:
  pg:
    type: postgres
    from: decoded
    table: 42
  out:
    type: clickhouse
    from: logs
  files:
    type: file
    from: nowhere
    path: out
    format: parket
"""


def test_every_problem_is_reported_in_one_pass() -> None:
    found = by_path(problems_of(MANY_MISTAKES))

    def line(needle: str) -> int:
        return line_of(MANY_MISTAKES, needle)

    expected = {
        "name": line("name: My Pipeline"),
        "resource_size": line("resource_size:"),
        "job": line("job:"),
        "sinkz": line("sinkz:"),
        "sources.logs.dataset_name": line("ethereum.transactions"),
        "sources.logs.start_block": line('start_block: "100"'),
        "sources.logs.end_blok": line("end_blok:"),
        "sources.blocks.version": line("version: 9.9.9"),
        "sources.blocks.start_block": line("start_block: -5"),
        "sources.blocks.confirmations": line("confirmations:"),
        "sources.ranges.block_ranges[0]": line("block_ranges:"),
        "sources.kafka_in.type": line("type: kafka"),
        "transforms.decoded": line("decoded:"),
        "transforms.decoded.sql": line("FROM logz"),
        "transforms.broken.sql": line("sql: |"),
        "transforms.scripted.type": line("type: script"),
        "sinks.pg.table": line("table: 42"),
        "sinks.pg": line("pg:"),
        "sinks.out.type": line("type: clickhouse"),
        "sinks.files.from": line("from: nowhere"),
        "sinks.files.format": line("format: parket"),
    }
    assert set(found) == set(expected), sorted(found)
    for path, line_number in expected.items():
        assert [p.line for p in found[path]] == [line_number] * len(found[path]), path


def test_problems_come_sorted_by_line_and_format_with_the_file() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline_text(MANY_MISTAKES, "pipe.yaml")
    problems = caught.value.problems
    lines = [p.line or 0 for p in problems]
    assert 0 not in lines  # every problem here has a line
    assert lines == sorted(lines)

    text = str(caught.value)
    assert text.splitlines() == [p.format("pipe.yaml") for p in problems]
    assert isinstance(caught.value, ConfigError)


def test_messages_of_the_many_mistakes_file() -> None:
    found = by_path(problems_of(MANY_MISTAKES))
    first = {path: problems[0] for path, problems in found.items()}

    assert first["job"].message == "must be true or false, not 'yes'"
    assert first["sources.logs.start_block"].hint == "remove the quotes: 100"
    assert first["sources.blocks.version"].message == (
        "ethereum.blocks has no version 9.9.9"
    )
    assert first["sources.blocks.version"].hint == "available: 1.0.0, 1.1.0"
    assert first["sources.blocks.start_block"].message == "must be >= 0, got -5"
    assert "ends before it starts" in first["sources.ranges.block_ranges[0]"].message
    assert first["sources.kafka_in.type"].message == (
        "source type 'kafka' is not supported by chaintap yet"
    )
    assert first["transforms.decoded"].message == "missing required key 'primary_key'"
    assert "line 2 of the SQL" in first["transforms.broken.sql"].message
    assert first["sinks.pg"].message == "missing required key 'secret_name'"
    assert first["sinks.pg.table"].hint == 'quote it: "42"'
    assert first["sinks.out.type"].hint == (
        "supported sink types: postgres, file, print, blackhole"
    )


def test_yaml_syntax_error_is_one_problem_with_its_line() -> None:
    text = "name: p\nsources:\n  logs: {type: dataset\nsinks: {}\n"
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].path == ""
    assert problems[0].message.startswith("invalid YAML:")
    # PyYAML notices the unclosed flow mapping on the line after it opened.
    assert problems[0].line in (line_of(text, "logs:"), line_of(text, "sinks:"))


def test_tab_indentation_gets_a_hint() -> None:
    problems = problems_of("name: p\nsources:\n\tlogs: {}\n")
    assert len(problems) == 1
    assert problems[0].line == 3
    assert problems[0].hint is not None and "spaces" in problems[0].hint


def test_several_documents_are_rejected() -> None:
    problems = problems_of("name: a\n---\nname: b\n")
    assert len(problems) == 1
    assert problems[0].hint is not None and "---" in problems[0].hint


@pytest.mark.parametrize(
    ("text", "shown"),
    [("", "an empty file"), ("- a\n- b\n", "a list"), ("just text\n", "a str")],
)
def test_top_level_must_be_a_mapping(text: str, shown: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].path == ""
    assert shown in problems[0].message


def test_missing_sections_are_reported_on_the_top_level() -> None:
    problems = problems_of("name: p\n")
    messages = sorted(p.message for p in problems)
    assert messages == [
        "missing required key 'sinks'",
        "missing required key 'sources'",
    ]
    assert all(p.line == 1 and p.path == "" for p in problems)


def test_duplicate_keys_are_problems_not_silently_merged() -> None:
    text = (
        "name: p\n"
        "sources:\n"
        "  logs: {type: dataset, dataset_name: base.raw_logs}\n"
        "  logs: {type: dataset, dataset_name: base.blocks}\n"
        "sinks:\n"
        "  out: {type: blackhole, from: logs}\n"
    )
    (problem,) = problems_of(text)
    assert problem.path == "sources.logs"
    assert problem.line == 4
    assert "first on line 3" in problem.message


def test_names_are_unique_across_sections() -> None:
    text = (
        "name: p\n"
        "sources:\n"
        "  logs: {type: dataset, dataset_name: base.raw_logs}\n"
        "transforms:\n"
        "  logs: {type: sql, primary_key: id, sql: SELECT * FROM logs}\n"
        "sinks:\n"
        "  logs: {type: blackhole, from: logs}\n"
    )
    problems = [p for p in problems_of(text) if "already used" in p.message]
    assert [(p.path, p.line) for p in problems] == [
        ("transforms.logs", 5),
        ("sinks.logs", 7),
    ]
    assert "already used in sources (line 3)" in problems[0].message


def test_wrong_shapes_are_problems() -> None:
    text = (
        "name: p\n"
        "sources: [a, b]\n"
        "transforms:\n"
        "  t: just a string\n"
        "sinks:\n"
        "  out: {type: blackhole, from: t}\n"
    )
    found = by_path(problems_of(text))
    assert "must be a mapping" in found["sources"][0].message
    assert found["sources"][0].line == 2
    assert "not a string" in found["transforms.t"][0].message
    assert found["transforms.t"][0].line == 4


def test_empty_required_string_and_missing_value() -> None:
    text = (
        "name: p\n"
        "sources:\n"
        "  logs:\n"
        "    type: dataset\n"
        "    dataset_name:\n"
        "sinks:\n"
        "  out: {type: postgres, from: logs, table: '', secret_name: S}\n"
    )
    found = by_path(problems_of(text))
    assert found["sources.logs.dataset_name"][0].message == "has no value"
    assert found["sources.logs.dataset_name"][0].line == 5
    assert found["sinks.out.table"][0].message == "must not be empty"


def test_problem_format_without_file_or_line() -> None:
    problem = Problem("sinks.out.from", 7, "reads 'x'", "did you mean y?")
    assert (
        problem.format() == "line 7: sinks.out.from: reads 'x' (hint: did you mean y?)"
    )
    assert Problem("", None, "broken").format("f.yaml") == "f.yaml: broken"
    assert Problem("job", None, "m").format() == "job: m"
