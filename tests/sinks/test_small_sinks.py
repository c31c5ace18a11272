"""PrintSink, BlackholeSink and the sink registry."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.errors import ConfigError
from chaintap.sinks.blackhole import BlackholeSink
from chaintap.sinks.file import FileSink
from chaintap.sinks.postgres import PostgresSink
from chaintap.sinks.registry import build_sink
from chaintap.sinks.stdout import PrintSink
from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.tuning import profile_for

BLOCKS = BlockRange(7, 8)


def table(first: int, count: int) -> pa.Table:
    return pa.table(
        {
            "n": pa.array(range(first, first + count), pa.int64()),
            "amount": u256.array([2**256 - 1 - i for i in range(count)]),
            "note": [None] * count,
        }
    )


def test_print_sink_writes_json_lines_with_u256_strings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = PrintSink(SinkSpec("out", "print", "t"), "pipe", profile_for("xs"))
    sink.open(table(0, 0).schema)
    sink.write_batch(table(0, 2), BLOCKS)
    sink.close()

    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"n": 0, "amount": str(2**256 - 1), "note": None},
        {"n": 1, "amount": str(2**256 - 2), "note": None},
    ]


def test_print_sink_limit_counts_across_batches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = SinkSpec("out", "print", "t", options={"limit": 3})
    sink = PrintSink(spec, "pipe", profile_for("xs"))
    sink.open(table(0, 0).schema)
    sink.write_batch(table(0, 2), BLOCKS)
    sink.write_batch(table(2, 2), BLOCKS)
    sink.write_batch(table(4, 2), BLOCKS)
    sink.flush()

    shown = [json.loads(line)["n"] for line in capsys.readouterr().out.splitlines()]
    assert shown == [0, 1, 2]
    assert (sink.rows_shown, sink.rows_hidden) == (3, 3)


@pytest.mark.parametrize("limit", [0, -1, "5", True])
def test_print_sink_rejects_bad_limit(limit: object) -> None:
    spec = SinkSpec("out", "print", "t", options={"limit": limit})
    with pytest.raises(ConfigError, match=r"sinks\.out\.limit must be a positive"):
        PrintSink(spec, "pipe", profile_for("xs"))


def test_blackhole_counts_and_keeps_nothing() -> None:
    sink = BlackholeSink(SinkSpec("void", "blackhole", "t"), "pipe", profile_for("xs"))
    sink.open(table(0, 0).schema)
    sink.write_batch(table(0, 5), BLOCKS)
    sink.write_batch(table(5, 0), BLOCKS)
    sink.flush()
    sink.close()
    sink.close()

    assert (sink.rows_written, sink.batches, sink.closed) == (5, 2, True)


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("postgres", {"table": "t", "secret_name": "S"}, PostgresSink),
        ("file", {"path": "/tmp/x"}, FileSink),
        ("print", {}, PrintSink),
        ("blackhole", {}, BlackholeSink),
    ],
)
def test_registry_builds_by_type(
    kind: str, options: dict[str, str], expected: type
) -> None:
    sink = build_sink(
        SinkSpec("s", kind, "t", options=options), "pipe", profile_for("s")
    )
    assert type(sink) is expected
    assert (sink.name, sink.pipeline) == ("s", "pipe")


def test_registry_rejects_unknown_type() -> None:
    with pytest.raises(ConfigError, match=r"sinks\.s\.type 'kafka' is not a sink type"):
        build_sink(SinkSpec("s", "kafka", "t", line=4), "pipe", profile_for("s"))
