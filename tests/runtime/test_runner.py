"""The runner's checkpoint contract, with the in-library memory source and sink."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from chaintap.datasets.catalog import resolve
from chaintap.errors import NodeError
from chaintap.runtime.graph import PipelineGraph
from chaintap.runtime.runner import ALREADY_FINISHED, SUCCEEDED, run_pipeline
from chaintap.sinks.file import FileSink
from chaintap.sources.base import SourceBatch
from chaintap.spec.model import (
    BlockRange,
    PipelineSpec,
    SinkSpec,
    SourceSpec,
    TransformSpec,
)
from chaintap.state.checkpoints import CheckpointStore
from chaintap.testing import MemorySink, MemorySource
from chaintap.transforms.sql import SqlTransform


def _batches(start: int, count: int, size: int = 10) -> list[SourceBatch]:
    """`count` batches of `size` blocks, one row per block (block 3k+1 has none)."""
    batches = []
    for i in range(count):
        blocks = BlockRange(start + i * size, start + (i + 1) * size - 1)
        numbers = [n for n in range(blocks.start, blocks.end + 1) if n % 3 != 1]
        table = pa.table({"number": pa.array(numbers, pa.int64())})
        batches.append(SourceBatch(table, blocks))
    return batches


def _spec(sources: list[str], sinks: dict[str, str], job: bool = True) -> PipelineSpec:
    dataset = resolve("ethereum.blocks", "1.0.0")
    return PipelineSpec(
        name="memory-test",
        resource_size="s",
        description=None,
        job=job,
        sources={n: SourceSpec(n, "dataset", dataset, 100, 199) for n in sources},
        transforms={},
        sinks={n: SinkSpec(n, "memory", from_) for n, from_ in sinks.items()},
    )


def _run(
    spec: PipelineSpec,
    home: Path,
    sources: dict[str, MemorySource],
    sinks: dict[str, MemorySink],
    clear_state: bool = False,
):
    graph = PipelineGraph.of(spec, sources, {}, sinks)
    return run_pipeline(spec, home=home, graph=graph, clear_state=clear_state)


def _cursor(home: Path, source: str) -> int | None:
    store = CheckpointStore(home / "state.db")
    try:
        checkpoint = store.get("memory-test", source)
        return None if checkpoint is None else checkpoint.cursor
    finally:
        store.close()


def test_job_delivers_every_row_and_checkpoints_the_last_block(tmp_path: Path) -> None:
    spec = _spec(["src"], {"out": "src"})
    source = MemorySource(spec.sources["src"], _batches(100, 10))
    sink = MemorySink(spec.sinks["out"])

    summary = _run(spec, tmp_path, {"src": source}, {"out": sink})

    expected = [n for n in range(100, 200) if n % 3 != 1]
    assert [r["number"] for r in sink.rows()] == expected
    assert summary.outcome == SUCCEEDED
    assert summary.blocks == 100
    assert summary.rows_by_node == {"src": len(expected), "out": len(expected)}
    assert _cursor(tmp_path, "src") == 199
    assert source.closed and sink.closed


def test_finished_job_does_nothing_until_state_is_cleared(tmp_path: Path) -> None:
    spec = _spec(["src"], {"out": "src"})
    _run(
        spec,
        tmp_path,
        {"src": MemorySource(spec.sources["src"], _batches(100, 2))},
        {"out": MemorySink(spec.sinks["out"])},
    )

    again = MemorySink(spec.sinks["out"])
    summary = _run(
        spec,
        tmp_path,
        {"src": MemorySource(spec.sources["src"], _batches(100, 2))},
        {"out": again},
    )
    assert summary.outcome == ALREADY_FINISHED
    assert "--clear-state" in (summary.message or "")
    assert again.rows() == []

    cleared = MemorySink(spec.sinks["out"])
    summary = _run(
        spec,
        tmp_path,
        {"src": MemorySource(spec.sources["src"], _batches(100, 2))},
        {"out": cleared},
        clear_state=True,
    )
    assert summary.outcome == SUCCEEDED
    assert len(cleared.rows()) == len([n for n in range(100, 120) if n % 3 != 1])


def test_failed_flush_keeps_checkpoint_before_the_batch(tmp_path: Path) -> None:
    spec = _spec(["src"], {"out": "src"})
    failing = MemorySink(spec.sinks["out"], fail_flush_at=135)

    with pytest.raises(NodeError) as failure:
        _run(
            spec,
            tmp_path,
            {"src": MemorySource(spec.sources["src"], _batches(100, 10))},
            {"out": failing},
        )

    message = str(failure.value)
    assert "pipeline 'memory-test'" in message
    assert "node 'out'" in message
    assert "blocks 130..139" in message
    assert _cursor(tmp_path, "src") == 129

    # The rerun resumes at block 130: together the runs hold every row exactly once.
    resumed = MemorySink(spec.sinks["out"])
    _run(
        spec,
        tmp_path,
        {"src": MemorySource(spec.sources["src"], _batches(100, 10))},
        {"out": resumed},
    )
    numbers = [r["number"] for r in failing.rows() + resumed.rows()]
    assert numbers == [n for n in range(100, 200) if n % 3 != 1]


def test_checkpoint_waits_for_every_sink(tmp_path: Path) -> None:
    spec = _spec(["src"], {"good": "src", "bad": "src"})
    good = MemorySink(spec.sinks["good"])
    bad = MemorySink(spec.sinks["bad"], fail_flush_at=150)

    with pytest.raises(NodeError, match="node 'bad'"):
        _run(
            spec,
            tmp_path,
            {"src": MemorySource(spec.sources["src"], _batches(100, 10))},
            {"good": good, "bad": bad},
        )

    # `good` flushed block 150's batch, but `bad` did not: the cursor stays at 149.
    assert max(b.end for _, b in good.flushed) == 159
    assert _cursor(tmp_path, "src") == 149


def test_source_failure_names_the_source(tmp_path: Path) -> None:
    spec = _spec(["src"], {"out": "src"})
    source = MemorySource(spec.sources["src"], _batches(100, 10), fail_at=160)

    with pytest.raises(NodeError, match=r"node 'src'.*failed at block 160"):
        _run(spec, tmp_path, {"src": source}, {"out": MemorySink(spec.sinks["out"])})
    assert _cursor(tmp_path, "src") == 159


def test_each_source_has_its_own_checkpoint(tmp_path: Path) -> None:
    spec = _spec(["a", "b"], {"out_a": "a", "out_b": "b"})
    sources = {
        "a": MemorySource(spec.sources["a"], _batches(100, 3)),
        "b": MemorySource(spec.sources["b"], _batches(500, 5)),
    }
    sinks = {n: MemorySink(spec.sinks[n]) for n in ("out_a", "out_b")}

    _run(spec, tmp_path, sources, sinks)

    assert _cursor(tmp_path, "a") == 129
    assert _cursor(tmp_path, "b") == 549
    assert sinks["out_b"].rows()[0] == {"number": 500}


def test_a_retraction_batch_moves_the_checkpoint_back(tmp_path: Path) -> None:
    spec = _spec(["src"], {"out": "src"}, job=False)
    forward = _batches(100, 2)
    retraction = SourceBatch(
        pa.table({"number": pa.array([110, 111], pa.int64())}),
        BlockRange(110, 119),
        cursor=109,
    )
    sink = MemorySink(spec.sinks["out"])

    _run(
        spec,
        tmp_path,
        {"src": MemorySource(spec.sources["src"], [*forward, retraction])},
        {"out": sink},
    )

    assert _cursor(tmp_path, "src") == 109
    assert [b for _, b in sink.flushed][-1] == BlockRange(110, 119)


def test_a_finished_job_whose_file_changed_says_so(tmp_path: Path) -> None:
    spec = _spec(["src"], {"out": "src"})
    _run(
        spec,
        tmp_path,
        {"src": MemorySource(spec.sources["src"], _batches(100, 2))},
        {"out": MemorySink(spec.sinks["out"])},
    )
    longer = replace(spec, sources={"src": replace(spec.sources["src"], end_block=299)})

    summary = _run(
        longer,
        tmp_path,
        {"src": MemorySource(longer.sources["src"], _batches(100, 2))},
        {"out": MemorySink(longer.sinks["out"])},
    )

    assert summary.outcome == ALREADY_FINISHED
    assert "with a different pipeline file" in (summary.message or "")
    assert "--clear-state" in (summary.message or "")


def test_two_sources_into_one_file_sink_lose_no_rows(tmp_path: Path) -> None:
    # UNION ALL of two sources over the same blocks, into one file sink: each
    # source's batches get files of their own instead of replacing each other.
    dataset = resolve("ethereum.blocks", "1.0.0")
    spec = PipelineSpec(
        name="memory-test",
        resource_size="s",
        description=None,
        job=True,
        sources={n: SourceSpec(n, "dataset", dataset, 100, 119) for n in ("a", "b")},
        transforms={
            "both": TransformSpec(
                "both",
                "sql",
                "number",
                "SELECT * FROM a UNION ALL SELECT * FROM b",
                ("a", "b"),
            )
        },
        sinks={
            "files": SinkSpec(
                "files",
                "file",
                "both",
                options={"path": str(tmp_path / "out"), "format": "jsonl"},
            )
        },
        transform_order=("both",),
    )
    graph = PipelineGraph.of(
        spec,
        {n: MemorySource(spec.sources[n], _batches(100, 2)) for n in ("a", "b")},
        {"both": SqlTransform(spec.transforms["both"])},
        {"files": FileSink(spec.sinks["files"], spec.name, spec.profile)},
    )

    run_pipeline(spec, home=tmp_path, graph=graph)

    numbers = sorted(
        json.loads(line)["number"]
        for path in (tmp_path / "out").glob("*.jsonl")
        for line in path.read_text().splitlines()
    )
    expected = [n for n in range(100, 120) if n % 3 != 1]
    assert numbers == sorted(expected * 2)


def test_resuming_under_a_changed_file_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = _spec(["src"], {"out": "src"})
    with pytest.raises(NodeError):
        _run(
            spec,
            tmp_path,
            {"src": MemorySource(spec.sources["src"], _batches(100, 4), fail_at=120)},
            {"out": MemorySink(spec.sinks["out"])},
        )
    earlier = replace(
        spec, sources={"src": replace(spec.sources["src"], start_block=0)}
    )

    with caplog.at_level("WARNING", logger="chaintap"):
        _run(
            earlier,
            tmp_path,
            {"src": MemorySource(earlier.sources["src"], _batches(100, 4))},
            {"out": MemorySink(earlier.sinks["out"])},
        )

    assert "the pipeline file changed since its checkpoints" in caplog.text


def test_resuming_under_the_same_file_does_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = _spec(["src"], {"out": "src"})
    with pytest.raises(NodeError):
        _run(
            spec,
            tmp_path,
            {"src": MemorySource(spec.sources["src"], _batches(100, 4), fail_at=120)},
            {"out": MemorySink(spec.sinks["out"])},
        )
    with caplog.at_level("WARNING", logger="chaintap"):
        _run(
            spec,
            tmp_path,
            {"src": MemorySource(spec.sources["src"], _batches(100, 4))},
            {"out": MemorySink(spec.sinks["out"])},
        )
    assert "changed since" not in caplog.text
