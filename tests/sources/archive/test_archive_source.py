"""ArchiveSource over archives written from the real mainnet blocks.

Golden rows come from `archive_rows`, built from the node's JSON with plain
Python; the archives are written with pyarrow in the documented layouts.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from archive_rows import (
    LOG_BLOCKS,
    chaintap_name,
    log_rows,
    transfer_rows,
    write_cryo_logs,
    write_logs,
)

from chaintap import u256
from chaintap.datasets import evm
from chaintap.datasets.catalog import resolve
from chaintap.errors import ConfigError, TerminalError
from chaintap.sinks.file import FileSink
from chaintap.sources.archive import source as archive_source
from chaintap.sources.archive.source import ArchiveSource
from chaintap.sources.base import SourceBatch
from chaintap.sources.registry import build_source
from chaintap.spec.model import BlockRange, SinkSpec, SourceSpec
from chaintap.tuning import ResourceProfile, profile_for

ONE_BLOCK = replace(profile_for("xs"), blocks_per_batch=1)


def _spec(
    root: Path | None, dataset: str = "ethereum.raw_logs", **fields: Any
) -> SourceSpec:
    options = {} if root is None else {"archive": str(root)}
    return SourceSpec(
        name="logs",
        type="dataset",
        dataset=resolve(dataset, None),
        options=options,
        **fields,
    )


def _read(
    spec: SourceSpec, profile: ResourceProfile, cursor: int | None = None
) -> tuple[ArchiveSource, list[SourceBatch]]:
    source = ArchiveSource(spec, profile)
    source.open(cursor)
    batches = list(source.read())
    source.close()
    return source, batches


def _rows(batches: list[SourceBatch]) -> list[dict[str, Any]]:
    return [row for b in batches for row in b.records.to_pylist()]


def _assert_contiguous(batches: list[SourceBatch], blocks: BlockRange) -> None:
    assert batches[0].blocks.start == blocks.start
    assert batches[-1].blocks.end == blocks.end
    for before, after in itertools.pairwise(batches):
        assert after.blocks.start == before.blocks.end + 1
    for batch in batches:
        numbers = batch.records.column("block_number").to_pylist()
        assert all(batch.blocks.start <= n <= batch.blocks.end for n in numbers)


@pytest.fixture
def spread_archive(tmp_path: Path) -> Path:
    """One file per log block, each covering the blocks up to the next one."""
    ends = [*(b - 1 for b in LOG_BLOCKS[1:]), LOG_BLOCKS[-1]]
    for first, last in zip(LOG_BLOCKS, ends, strict=True):
        write_logs(tmp_path / chaintap_name(first, last), [log_rows(first)])
    return tmp_path


def test_reads_back_every_row_in_block_order(spread_archive: Path) -> None:
    source, batches = _read(_spec(spread_archive), profile_for("xs"))

    assert _rows(batches) == [r for b in LOG_BLOCKS for r in log_rows(b)]
    assert all(b.records.schema == evm.RAW_LOGS for b in batches)
    _assert_contiguous(batches, BlockRange(LOG_BLOCKS[0], LOG_BLOCKS[-1]))
    assert all(len(b.blocks) <= 10 for b in batches if b.records.num_rows)
    assert source.target == BlockRange(LOG_BLOCKS[0], LOG_BLOCKS[-1])
    assert source.stats.rows_emitted == sum(len(log_rows(b)) for b in LOG_BLOCKS)


def test_small_read_steps_give_the_same_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of one block spread over many read steps still land in one batch."""
    first, last = 16899757, 17053184
    write_logs(
        tmp_path / chaintap_name(first, last),
        [log_rows(first), log_rows(last)],
        row_group_size=64,
    )
    monkeypatch.setattr(archive_source, "ARCHIVE_READ_ROWS", 7)

    _, batches = _read(_spec(tmp_path), ONE_BLOCK)

    assert [b.blocks for b in batches] == [
        BlockRange(first, first),
        BlockRange(first + 1, last - 1),
        BlockRange(last, last),
    ]
    assert [b.records.to_pylist() for b in batches] == [
        log_rows(first),
        [],
        log_rows(last),
    ]


def test_u256_strings_of_the_file_sink_read_back_exactly(tmp_path: Path) -> None:
    block = 16899757
    golden = transfer_rows(block)
    stored = [{**r, "amount": str(r["amount"])} for r in golden]
    schema = pa.schema(
        [pa.field(f.name, pa.string() if u256.is_u256(f.type) else f.type)
         for f in evm.ERC20_TRANSFERS]
    )  # fmt: skip
    pq.write_table(
        pa.Table.from_pylist(stored, schema=schema),
        tmp_path / chaintap_name(block, block),
    )

    _, batches = _read(_spec(tmp_path, "ethereum.erc20_transfers"), profile_for("s"))
    table = pa.concat_tables(b.records for b in batches)

    assert table.schema == evm.ERC20_TRANSFERS
    assert u256.to_ints(table.column("amount")) == [r["amount"] for r in golden]
    assert table.drop(["amount"]).to_pylist() == [
        {k: v for k, v in r.items() if k != "amount"} for r in golden
    ]
    assert len(golden) > 10


def test_cryo_files_convert_binary_columns(tmp_path: Path) -> None:
    block = 16899757
    write_cryo_logs(
        tmp_path / f"ethereum__logs__{block:011d}_to_{block:011d}.parquet",
        log_rows(block),
    )
    # Another dataset in the same directory is not read.
    pq.write_table(
        pa.table({"x": [1]}),
        tmp_path / f"ethereum__blocks__{block:011d}_to_{block:011d}.parquet",
    )

    _, batches = _read(_spec(tmp_path), profile_for("s"))

    # cryo's logs carry no block time: the optional column comes back null.
    expected = [{**r, "block_timestamp": None} for r in log_rows(block)]
    assert _rows(batches) == expected
    # The block has logs with fewer than four topics (null topic columns).
    assert any(len(r["topics"].split(",")) < 4 for r in expected)


def test_a_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    block = 13998626
    path = tmp_path / f"ethereum__logs__{block:011d}_to_{block:011d}.parquet"
    write_cryo_logs(path, log_rows(block))
    pq.write_table(pq.read_table(path).drop(["block_hash"]), path)

    source = ArchiveSource(_spec(tmp_path), profile_for("s"))
    with pytest.raises(ConfigError, match=r"has no column 'block_hash'") as caught:
        source.open(None)
    assert str(path) in str(caught.value)


@pytest.fixture
def one_file_archive(tmp_path: Path) -> Path:
    """Every log block in one file, one row group per block."""
    first, last = LOG_BLOCKS[0], LOG_BLOCKS[-1]
    write_logs(tmp_path / chaintap_name(first, last), [log_rows(b) for b in LOG_BLOCKS])
    return tmp_path


def test_block_filter_reads_only_the_row_groups_of_those_blocks(
    one_file_archive: Path,
) -> None:
    full, _ = _read(_spec(one_file_archive), profile_for("xl"))
    spec = _spec(one_file_archive, filter="block_number = 16899757")

    source, batches = _read(spec, profile_for("xl"))

    assert full.stats.row_groups_read == len(LOG_BLOCKS)
    assert source.stats.row_groups_read == 1
    assert source.stats.row_groups_skipped == len(LOG_BLOCKS) - 1
    assert _rows(batches) == log_rows(16899757)
    assert source.target == BlockRange(16899757, 16899757)


@pytest.mark.parametrize("column", ["address", "topic0"])
def test_value_filter_skips_row_groups_and_yields_exactly_the_matches(
    one_file_archive: Path, column: str
) -> None:
    """The lexicographically largest value can only be within the min/max of a
    row group that holds it, so exactly those row groups must be read."""
    rows = {b: log_rows(b) for b in LOG_BLOCKS}

    def value(row: dict[str, Any]) -> str:
        return str(row["address"] if column == "address" else row["topics"][:66])

    wanted = max(value(r) for block in rows.values() for r in block)
    holding = [b for b, block in rows.items() if any(value(r) == wanted for r in block)]
    predicate = (
        f"address = '{wanted}'" if column == "address" else f"topics LIKE '{wanted}%'"
    )

    source, batches = _read(
        _spec(one_file_archive, filter=predicate), profile_for("xl")
    )

    assert source.stats.row_groups_read == len(holding) < len(LOG_BLOCKS)
    assert _rows(batches) == [
        r for block in rows.values() for r in block if value(r) == wanted
    ]
    _assert_contiguous(batches, BlockRange(LOG_BLOCKS[0], LOG_BLOCKS[-1]))


def test_a_gap_in_the_requested_range_is_an_error(tmp_path: Path) -> None:
    for block in (13998626, 17053184):
        write_logs(tmp_path / chaintap_name(block, block), [log_rows(block)])

    source = ArchiveSource(_spec(tmp_path), profile_for("s"))
    with pytest.raises(ConfigError, match=r"blocks 13998627\.\.17053183 are in no"):
        source.open(None)

    beyond = ArchiveSource(
        _spec(tmp_path, start_block=17053184, end_block=17053190), profile_for("s")
    )
    with pytest.raises(ConfigError, match=r"blocks 17053185\.\.17053190 are in no"):
        beyond.open(None)

    # Asking only for blocks the files hold is fine.
    _, batches = _read(
        _spec(tmp_path, start_block=17053184, end_block=17053184), profile_for("s")
    )
    assert _rows(batches) == log_rows(17053184)


def test_resume_after_the_cursor(spread_archive: Path) -> None:
    cursor = 16899757

    source, batches = _read(_spec(spread_archive), profile_for("xs"), cursor)

    assert source.target == BlockRange(cursor + 1, LOG_BLOCKS[-1])
    assert batches[0].blocks.start == cursor + 1
    assert _rows(batches) == log_rows(17053184)

    done, nothing = _read(_spec(spread_archive), profile_for("xs"), LOG_BLOCKS[-1])
    assert nothing == []
    assert done.target is None


def test_a_cursor_inside_a_file_skips_its_earlier_rows(tmp_path: Path) -> None:
    first, last = 16899757, 17053184
    write_logs(tmp_path / chaintap_name(first, last), [log_rows(first), log_rows(last)])

    _, batches = _read(_spec(tmp_path), profile_for("xs"), cursor=first)

    assert _rows(batches) == log_rows(last)
    assert batches[0].blocks.start == first + 1


def test_rows_outside_the_named_range_are_refused(tmp_path: Path) -> None:
    first, last = 16899757, 17053184
    write_logs(
        tmp_path / chaintap_name(first, first), [log_rows(first), log_rows(last)]
    )

    source = ArchiveSource(_spec(tmp_path), profile_for("s"))
    source.open(None)
    with pytest.raises(TerminalError, match=r"outside the range"):
        list(source.read())


def test_rows_going_back_to_an_emitted_batch_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, last = 16899757, 17053184
    # Small read steps, so block `first` arrives after block `last` was cut.
    monkeypatch.setattr(archive_source, "ARCHIVE_READ_ROWS", 50)
    path = tmp_path / chaintap_name(first, last)
    write_logs(path, [log_rows(last), log_rows(first)])

    # One batch for the whole file: its rows are put in block order.
    whole = replace(profile_for("s"), blocks_per_batch=last - first + 1)
    _, batches = _read(_spec(tmp_path), whole)
    assert _rows(batches) == log_rows(first) + log_rows(last)

    # One batch per block: block `first` comes after block `last` was emitted.
    source = ArchiveSource(_spec(tmp_path), ONE_BLOCK)
    source.open(None)
    with pytest.raises(TerminalError, match=r"not in block order"):
        list(source.read())


def test_start_at_latest_is_refused(spread_archive: Path) -> None:
    source = ArchiveSource(_spec(spread_archive, start_at="latest"), profile_for("s"))
    with pytest.raises(ConfigError, match="start_at: latest"):
        source.open(None)


def test_registry_picks_the_archive_from_option_or_environment(
    spread_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(
        build_source(_spec(spread_archive), profile_for("s")), ArchiveSource
    )

    monkeypatch.setenv("CHAINTAP_ARCHIVE_ETHEREUM", str(spread_archive))
    source = build_source(_spec(None), profile_for("s"))
    assert isinstance(source, ArchiveSource)
    assert source.root == spread_archive


@pytest.mark.parametrize("dataset", ["raw_logs", "erc20_transfers"])
def test_an_archive_written_by_the_file_sink_reads_back(
    tmp_path: Path, dataset: str
) -> None:
    """The real file sink writes the archive (u256 as base-10 strings)."""
    make = log_rows if dataset == "raw_logs" else transfer_rows
    schema = evm.SCHEMAS[dataset]

    def table(block: int) -> pa.Table:
        rows = make(block)
        if dataset == "erc20_transfers":
            rows = [{**r, "amount": u256.to_bytes(r["amount"])} for r in rows]
        return pa.Table.from_pylist(rows, schema=schema)

    sink = FileSink(
        SinkSpec("archive", "file", "logs", options={"path": str(tmp_path)}),
        "archive-test",
        profile_for("s"),
    )
    sink.open(schema)
    ends = [*(b - 1 for b in LOG_BLOCKS[1:]), LOG_BLOCKS[-1]]
    for first, last in zip(LOG_BLOCKS, ends, strict=True):
        sink.write_batch(table(first), BlockRange(first, last))
        sink.flush()
    sink.close()

    _, batches = _read(_spec(tmp_path, f"ethereum.{dataset}"), profile_for("s"))

    expected = pa.concat_tables(table(b) for b in LOG_BLOCKS)
    assert pa.concat_tables(b.records for b in batches).equals(expected)
    assert expected.num_rows > 100


def test_close_in_the_middle_stops_the_background_reader(
    spread_archive: Path,
) -> None:
    source = ArchiveSource(_spec(spread_archive), ONE_BLOCK)
    source.open(None)
    batches = source.read()

    first = next(batches)
    reader = [t for t in threading.enumerate() if t.name == "archive-logs"]
    source.close()

    assert first.blocks == BlockRange(LOG_BLOCKS[0], LOG_BLOCKS[0])
    assert len(reader) == 1
    assert not reader[0].is_alive()


def test_a_sparse_archive_from_the_file_sink_reads_across_empty_stretches(
    tmp_path: Path,
) -> None:
    # The sink writes files only for the two blocks with rows; the stretches in
    # between were flushed empty and are recorded as covered, not as gaps.
    schema = evm.RAW_LOGS
    sink = FileSink(
        SinkSpec("archive", "file", "logs", options={"path": str(tmp_path)}),
        "archive-test",
        profile_for("s"),
    )
    sink.open(schema)
    first, last = 13998626, 16899757
    stretches = [
        (BlockRange(first - 10, first - 1), []),
        (BlockRange(first, first), log_rows(first)),
        (BlockRange(first + 1, last - 1), []),
        (BlockRange(last, last), log_rows(last)),
        (BlockRange(last + 1, last + 5), []),
    ]
    for blocks, rows in stretches:
        sink.write_batch(pa.Table.from_pylist(rows, schema=schema), blocks)
        sink.flush()
    sink.close()
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".parquet"]) == 2

    source, batches = _read(_spec(tmp_path), profile_for("s"))

    assert source.target == BlockRange(first - 10, last + 5)
    _assert_contiguous(batches, BlockRange(first - 10, last + 5))
    assert _rows(batches) == log_rows(first) + log_rows(last)

    # A stretch the sink never flushed is still a gap.
    beyond = ArchiveSource(
        _spec(tmp_path, start_block=last, end_block=last + 9), profile_for("s")
    )
    with pytest.raises(
        ConfigError, match=rf"blocks {last + 6}\.\.{last + 9} are in no"
    ):
        beyond.open(None)
