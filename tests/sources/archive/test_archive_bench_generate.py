"""bench/generate.py makes archives the archive source reads, shaped like mainnet."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa

from chaintap.datasets import evm
from chaintap.datasets.catalog import resolve
from chaintap.sources.archive.source import ArchiveSource
from chaintap.spec.model import BlockRange, SourceSpec
from chaintap.tuning import profile_for

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import generate


def test_generated_archive_reads_back_with_real_shapes(tmp_path: Path) -> None:
    made = generate.generate(tmp_path, 60_000, blocks_per_file=50)

    spec = SourceSpec(
        "logs",
        "dataset",
        resolve("ethereum.raw_logs", None),
        options={"archive": str(tmp_path)},
    )
    source = ArchiveSource(spec, profile_for("m"))
    source.open(None)
    table = pa.concat_tables(b.records for b in source.read())

    assert source.target == BlockRange(made["first_block"], made["last_block"])
    assert table.num_rows == made["rows"] > 40_000
    assert table.schema == evm.RAW_LOGS
    assert table.column("id").unique().to_pylist() == table.column("id").to_pylist()

    ours, real = generate.describe(tmp_path), generate.real_figures()
    for key in ("topics_1", "topics_2", "topics_3", "topics_4", "erc20_transfer"):
        assert abs(ours[key] - real[key]) < 0.08, (key, ours[key], real[key])
    assert 0.5 < ours["data_bytes_mean"] / real["data_bytes_mean"] < 1.5
