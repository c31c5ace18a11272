"""FileSink: three formats, exact u256 strings, names by block range, re-writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chaintap import u256
from chaintap.datasets.coverage import COVERAGE_FILE, read_coverage
from chaintap.errors import ConfigError
from chaintap.sinks.file import FileSink
from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.tuning import ResourceProfile, profile_for

AMOUNTS = [0, 1, 10**18 + 7, 2**255, 2**256 - 1]


def rows(first: int = 0) -> pa.Table:
    count = len(AMOUNTS)
    return pa.table(
        {
            "id": [f"r{first + i}" for i in range(count)],
            "amount": u256.array(AMOUNTS),
            "block_number": pa.array(range(first, first + count), pa.int64()),
            "topic": pa.array([bytes([i]) * 2 for i in range(count)], pa.binary()),
            "_gs_op": ["c", "c", "u", "d", "c"],
        }
    )


def make(directory: Path, file_format: str | None, **profile: int) -> FileSink:
    options: dict[str, Any] = {"path": str(directory)}
    if file_format is not None:
        options["format"] = file_format
    size = ResourceProfile("t", 1, 1, 1, 1, profile["batch_rows"]) if profile else None
    spec = SinkSpec("files", "file", "transfers", options=options)
    sink = FileSink(spec, "pipe", size or profile_for("xs"))
    sink.open(rows().schema)
    return sink


def read_back(path: Path) -> list[dict[str, Any]]:
    """Rows as plain strings/ints, read with each format's own reader."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("file_format", ["parquet", "jsonl", "csv"])
def test_formats_write_exact_u256_strings(tmp_path: Path, file_format: str) -> None:
    sink = make(tmp_path / "out", file_format)
    sink.write_batch(rows(), BlockRange(100, 104))
    sink.flush()

    written = read_back(tmp_path / "out" / f"000000000100-000000000104.{file_format}")
    assert [r["amount"] for r in written] == [str(a) for a in AMOUNTS]
    assert [r["_gs_op"] for r in written] == ["c", "c", "u", "d", "c"]
    assert [str(r["block_number"]) for r in written] == [str(n) for n in range(5)]
    if file_format != "parquet":
        assert [r["topic"] for r in written] == [
            "0x0000",
            "0x0101",
            "0x0202",
            "0x0303",
            "0x0404",
        ]


def test_parquet_keeps_u256_as_a_string_column(tmp_path: Path) -> None:
    sink = make(tmp_path, None)
    sink.write_batch(rows(), BlockRange(1, 1))
    sink.close()

    (path,) = tmp_path.glob("*.parquet")
    assert pq.read_schema(path).field("amount").type == pa.string()


def test_names_follow_the_flushed_block_range(tmp_path: Path) -> None:
    sink = make(tmp_path, "jsonl")
    sink.write_batch(rows(0), BlockRange(10, 19))
    sink.write_batch(rows(5), BlockRange(20, 29))
    sink.flush()
    sink.write_batch(rows(10).slice(0, 0), BlockRange(30, 39))
    sink.flush()
    sink.write_batch(rows(10), BlockRange(40, 40))
    sink.close()
    sink.close()

    names = sorted(p.name for p in _data_files(tmp_path))
    assert names == [
        "000000000010-000000000029.jsonl",
        "000000000040-000000000040.jsonl",
    ]
    assert len(read_back(tmp_path / names[0])) == 10
    assert sink.rows_flushed == 15


@pytest.mark.parametrize("file_format", ["parquet", "jsonl", "csv"])
def test_rewriting_the_same_batches_overwrites(
    tmp_path: Path, file_format: str
) -> None:
    for _ in range(2):
        sink = make(tmp_path, file_format)
        sink.write_batch(rows(0), BlockRange(1, 5))
        sink.flush()
        sink.write_batch(rows(5), BlockRange(6, 9))
        sink.close()
        first = {p.name: p.read_bytes() for p in _data_files(tmp_path)}

    assert sorted(first) == [
        f"000000000001-000000000005.{file_format}",
        f"000000000006-000000000009.{file_format}",
    ]
    assert {p.name: p.read_bytes() for p in _data_files(tmp_path)} == first


def test_buffer_past_sink_batch_rows_goes_to_its_own_file(tmp_path: Path) -> None:
    sink = make(tmp_path, "csv", batch_rows=8)
    sink.write_batch(rows(0), BlockRange(1, 1))
    sink.write_batch(rows(5), BlockRange(2, 2))
    assert [p.name for p in _data_files(tmp_path)] == ["000000000001-000000000002.csv"]


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    spec = SinkSpec(
        "files", "file", "t", options={"path": str(tmp_path), "format": "xml"}
    )
    with pytest.raises(ConfigError, match=r"sinks\.files\.format is 'xml'"):
        FileSink(spec, "pipe", profile_for("xs"))
    with pytest.raises(ConfigError, match=r"sinks\.files\.path must name a directory"):
        FileSink(SinkSpec("files", "file", "t"), "pipe", profile_for("xs"))

    blocker = tmp_path / "plain-file"
    blocker.write_text("")
    spec = SinkSpec("files", "file", "t", options={"path": str(blocker / "sub")})
    with pytest.raises(ConfigError, match="cannot be created"):
        FileSink(spec, "pipe", profile_for("xs")).open(rows().schema)


def _data_files(directory: Path) -> list[Path]:
    """The data files, without the coverage record."""
    return [p for p in directory.iterdir() if p.name != COVERAGE_FILE]


def test_flushes_without_rows_are_recorded_as_covered(tmp_path: Path) -> None:
    sink = make(tmp_path, "parquet")
    empty = rows().schema.empty_table()
    for blocks, table in ((BlockRange(0, 9), empty), (BlockRange(10, 19), rows(10))):
        sink.write_batch(table, blocks)
        sink.flush()
    sink.write_batch(empty, BlockRange(20, 29))
    sink.close()

    names = [p.name for p in _data_files(tmp_path)]
    assert names == ["000000000010-000000000019.parquet"]
    assert read_coverage(tmp_path) == [BlockRange(0, 29)]


def test_a_longer_cut_of_the_same_blocks_replaces_the_shorter_file(
    tmp_path: Path,
) -> None:
    # A batch cut at the chain head (3200-3203) whose flush counted for this sink
    # but not for a sibling is cut longer on the rerun (3200-3209).
    first = make(tmp_path, "jsonl")
    first.write_batch(rows(3200), BlockRange(3200, 3203))
    first.close()
    again = make(tmp_path, "jsonl")
    again.write_batch(rows(3200), BlockRange(3200, 3209))
    again.close()

    names = [p.name for p in _data_files(tmp_path)]
    assert names == ["000000003200-000000003209.jsonl"]


def test_sources_sharing_a_sink_get_files_of_their_own(tmp_path: Path) -> None:
    sink = make(tmp_path, "jsonl")
    for source, first in (("a", 0), ("b", 100)):
        sink.write_batch(rows(first), BlockRange(0, 9), source)
        sink.flush()
    sink.close()

    names = sorted(p.name for p in _data_files(tmp_path))
    assert names == [
        "000000000000-000000000009.a.jsonl",
        "000000000000-000000000009.b.jsonl",
    ]
    ids = sorted(r["id"] for p in _data_files(tmp_path) for r in read_back(p))
    assert ids == sorted(
        [f"r{i}" for i in range(5)] + [f"r{100 + i}" for i in range(5)]
    )
