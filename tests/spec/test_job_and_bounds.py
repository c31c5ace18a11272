"""Jobs need bounded sources; block bounds, ranges, start_at and schedules."""

from __future__ import annotations

import pytest

from chaintap.spec.loader import load_pipeline_text
from spec.helpers import by_path, line_of, problems_of


def _job(sources: str, extra: str = "job: true\n") -> str:
    first = sources.split(":", 1)[0].strip()
    return (
        f"name: p\n{extra}sources:\n{sources}"
        f"sinks:\n  out: {{type: blackhole, from: {first}}}\n"
    )


@pytest.mark.parametrize(
    "bound",
    [
        "end_block: 100",
        "block_ranges: [[1, 2]]",
        "filter: block_number <= 100",
        "filter: block_number < 100",
        "filter: block_number BETWEEN 1 AND 100",
        "filter: block_number = 100",
        "filter: block_number IN (5, 7)",
        "archive: /data/base-archive",
        "filter: \"address = '0x0000000000000000000000000000000000000001' "
        'AND 100 >= block_number"',
    ],
)
def test_each_way_of_bounding_a_job_source(bound: str) -> None:
    text = _job(
        f"  logs:\n    type: dataset\n    dataset_name: base.raw_logs\n    {bound}\n"
    )
    assert load_pipeline_text(text).job is True


@pytest.mark.parametrize(
    "filter_",
    [
        "block_number >= 100",
        "block_number <= 100 OR address = '0x0000000000000000000000000000000000000001'",
        "NOT block_number > 100",
        "number <= 100",  # `number` is the block column of blocks, not of raw_logs
    ],
)
def test_filters_that_do_not_bound(filter_: str) -> None:
    text = _job(
        "  logs:\n    type: dataset\n    dataset_name: base.raw_logs\n"
        f'    filter: "{filter_}"\n'
    )
    (problem,) = problems_of(text)
    assert problem.path == "job"


def test_one_problem_names_every_unbounded_source_and_its_block_column() -> None:
    text = _job(
        "  logs:\n    type: dataset\n    dataset_name: ethereum.raw_logs\n"
        "  heads:\n    type: dataset\n    dataset_name: ethereum.blocks\n"
        "    filter: block_number <= 5\n"
        "  sol:\n    type: dataset\n    dataset_name: solana.transactions\n"
        "    start_block: 5\n"
        "  done:\n    type: dataset\n    dataset_name: solana.blocks\n"
        "    filter: slot <= 5\n"
    )
    (problem,) = problems_of(text)
    assert (problem.path, problem.line) == ("job", line_of(text, "job: true"))
    assert problem.message == (
        "a job needs every source to end, but logs, heads, sol have no last block"
    )
    assert problem.hint == (
        "give each an end_block, block_ranges, or a filter bound: "
        "`block_number <= N` for logs, `number <= N` for heads, "
        "`block_slot <= N` for sol"
    )


def test_unbounded_sources_are_fine_without_job() -> None:
    text = _job(
        "  logs: {type: dataset, dataset_name: base.raw_logs}\n", extra="job: false\n"
    )
    assert load_pipeline_text(text).job is False


def test_solana_start_at_says_use_start_block() -> None:
    text = _job(
        "  sol:\n    type: dataset\n    dataset_name: solana.blocks\n"
        "    start_at: latest\n",
        extra="",
    )
    (problem,) = problems_of(text)
    assert (problem.path, problem.line) == (
        "sources.sol.start_at",
        line_of(text, "start_at"),
    )
    assert problem.message == "start_at is not supported on Solana sources"
    assert problem.hint == "use start_block (and end_block) to choose slots"


def test_start_block_with_start_at_is_ambiguous() -> None:
    text = _job(
        "  logs:\n    type: dataset\n    dataset_name: base.raw_logs\n"
        "    start_block: 5\n    start_at: latest\n",
        extra="",
    )
    (problem,) = problems_of(text)
    assert problem.path == "sources.logs.start_at"
    assert problem.message == "start_at and start_block both choose where to start"


def test_start_after_end() -> None:
    text = _job(
        "  logs:\n    type: dataset\n    dataset_name: base.raw_logs\n"
        "    start_block: 10\n    end_block: 9\n",
        extra="",
    )
    (problem,) = problems_of(text)
    assert (problem.path, problem.line) == ("sources.logs.end_block", 7)
    assert problem.message == "end_block 9 is before start_block 10"


def test_start_equal_to_end_is_one_block() -> None:
    text = _job(
        "  logs:\n    type: dataset\n    dataset_name: base.raw_logs\n"
        "    start_block: 10\n    end_block: 10\n"
    )
    spec = load_pipeline_text(text)
    assert (spec.sources["logs"].start_block, spec.sources["logs"].end_block) == (
        10,
        10,
    )


@pytest.mark.parametrize(
    ("ranges", "path", "needle"),
    [
        ("[[1, 5], [5, 9]]", "sources.s.block_ranges", "overlap"),
        ("[[1, 2, 3]]", "sources.s.block_ranges[0]", "[start, end]"),
        ("[[-1, 2]]", "sources.s.block_ranges[0]", "integers >= 0"),
        ("[[true, 2]]", "sources.s.block_ranges[0]", "integers >= 0"),
        ("[]", "sources.s.block_ranges", "non-empty"),
        ("[[9, 1]]", "sources.s.block_ranges[0]", "ends before it starts"),
    ],
)
def test_bad_block_ranges(ranges: str, path: str, needle: str) -> None:
    text = _job(
        "  s:\n    type: dataset\n    dataset_name: solana.blocks\n"
        f"    block_ranges: {ranges}\n",
        extra="",
    )
    found = by_path(problems_of(text))
    assert list(found) == [path]
    assert needle in found[path][0].message
    assert found[path][0].line == line_of(text, "block_ranges")


def test_block_ranges_with_end_block_is_ambiguous() -> None:
    text = _job(
        "  s:\n    type: dataset\n    dataset_name: solana.blocks\n"
        "    end_block: 9\n    block_ranges: [[1, 2]]\n",
        extra="",
    )
    (problem,) = problems_of(text)
    assert problem.path == "sources.s.block_ranges"


def test_schedule_needs_a_job_and_a_cron_expression() -> None:
    source = "  logs: {type: dataset, dataset_name: base.raw_logs, end_block: 9}\n"
    ok = load_pipeline_text(_job(source, extra="job: true\nschedule: '*/5 * * * *'\n"))
    assert ok.schedule == "*/5 * * * *"
    assert load_pipeline_text(_job(source, extra="job: true\nschedule: '@daily'\n"))

    (problem,) = problems_of(_job(source, extra="schedule: '0 * * * *'\n"))
    assert problem.path == "schedule"
    assert problem.hint == "set job: true, or remove schedule"

    (problem,) = problems_of(_job(source, extra="job: true\nschedule: every hour\n"))
    assert problem.message == "schedule 'every hour' is not a cron expression"


def test_an_archive_from_the_environment_bounds_a_job_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _job("  logs:\n    type: dataset\n    dataset_name: base.raw_logs\n")
    monkeypatch.delenv("CHAINTAP_ARCHIVE_BASE", raising=False)
    assert "no last block" in str(problems_of(text))
    monkeypatch.setenv("CHAINTAP_ARCHIVE_BASE", "/data/base-archive")
    assert load_pipeline_text(text).job is True
