"""File names of archives and the block ranges they cover."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaintap.errors import ConfigError
from chaintap.sources.archive.layout import CHAINTAP, CRYO, discover, parse_name
from chaintap.spec.model import BlockRange


def test_chaintap_names_are_inclusive_ranges() -> None:
    parsed = parse_name(Path("/a/000017000000-000017000049.parquet"))

    assert parsed is not None
    assert parsed.style == CHAINTAP
    assert parsed.blocks == BlockRange(17_000_000, 17_000_049)
    assert len(parsed.blocks) == 50


@pytest.mark.parametrize(
    ("name", "chain", "dataset", "first", "last"),
    [
        ("ethereum__logs__00017000000_to_00017099999.parquet", "ethereum", "raw_logs",
         17_000_000, 17_099_999),
        ("ethereum__transactions__00000000000_to_00000000999.parquet", "ethereum",
         "raw_transactions", 0, 999),
        ("base__erc20_transfers__mylabel__00001000000_to_00001000000.parquet", "base",
         "erc20_transfers", 1_000_000, 1_000_000),
        ("ethereum__traces__00017000000_to_00017099999.parquet", "ethereum",
         "traces", 17_000_000, 17_099_999),
    ],
)  # fmt: skip
def test_cryo_names_parse(
    name: str, chain: str, dataset: str, first: int, last: int
) -> None:
    parsed = parse_name(Path(name))

    assert parsed is not None
    assert (parsed.style, parsed.chain, parsed.dataset) == (CRYO, chain, dataset)
    assert parsed.blocks == BlockRange(first, last)


@pytest.mark.parametrize(
    "name",
    [
        "000017000049-000017000000.parquet",  # first after last
        "000017000000-000017000049.parquet.tmp",
        "000017000000-000017000049.csv",
        "logs_17000000_17000049.parquet",
        "ethereum__logs__00017000000.parquet",
    ],
)
def test_other_names_are_not_archive_files(name: str) -> None:
    assert parse_name(Path(name)) is None


def _touch(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")


def test_discover_keeps_the_wanted_chain_and_dataset_in_block_order(
    tmp_path: Path,
) -> None:
    _touch(
        tmp_path,
        "ethereum__logs__00000000200_to_00000000299.parquet",
        "ethereum__logs__00000000100_to_00000000199.parquet",
        "ethereum__blocks__00000000100_to_00000000199.parquet",
        "base__logs__00000000100_to_00000000199.parquet",
        "notes.txt",
    )

    archive = discover(tmp_path, "ethereum", "raw_logs")

    assert [f.blocks for f in archive.files] == [
        BlockRange(100, 199),
        BlockRange(200, 299),
    ]
    assert archive.blocks == BlockRange(100, 299)


def test_discover_prefers_a_subdirectory_named_after_the_dataset(
    tmp_path: Path,
) -> None:
    _touch(tmp_path / "raw_logs", "000000000010-000000000019.parquet")
    _touch(tmp_path / "blocks", "000000000000-000000000099.parquet")

    archive = discover(tmp_path, "ethereum", "raw_logs")

    assert archive.directory == tmp_path / "raw_logs"
    assert archive.blocks == BlockRange(10, 19)


def test_discover_without_files_names_the_expected_names(tmp_path: Path) -> None:
    _touch(tmp_path, "readme.md")

    with pytest.raises(ConfigError, match=r"no Parquet file of ethereum.raw_logs"):
        discover(tmp_path, "ethereum", "raw_logs")
    with pytest.raises(ConfigError, match="is not a directory"):
        discover(tmp_path / "missing", "ethereum", "raw_logs")


def test_covering_names_a_gap_and_overlapping_files(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "000000000000-000000000009.parquet",
        "000000000010-000000000019.parquet",
        "000000000030-000000000039.parquet",
    )
    archive = discover(tmp_path, "ethereum", "raw_logs")

    assert len(archive.covering(BlockRange(5, 15))) == 2
    with pytest.raises(ConfigError, match=r"blocks 20\.\.29 are in no file"):
        archive.covering(BlockRange(5, 35))
    with pytest.raises(ConfigError, match=r"blocks 40\.\.45 are in no file"):
        archive.covering(BlockRange(35, 45))

    _touch(tmp_path, "000000000015-000000000024.parquet")
    overlapping = discover(tmp_path, "ethereum", "raw_logs")
    with pytest.raises(ConfigError, match="both hold blocks from 15"):
        overlapping.covering(BlockRange(0, 25))
