"""Where the files of a dataset archive are, and which blocks each one holds.

An archive is a directory of Parquet files, each holding every row of one
inclusive block range of one dataset. Two naming schemes are recognised:

- chaintap's file sink: `<first>-<last>.parquet`, both numbers zero-padded to 12
  digits (`000017000000-000017000049.parquet`), one dataset per directory;
- cryo: `<chain>__<dataset>__<first>_to_<last>.parquet`, optionally with a label
  before the range (`ethereum__logs__00017000000_to_00017099999.parquet`,
  `ethereum__logs__mylabel__00017000000_to_00017099999.parquet`). Several
  datasets may share a directory; only files of the wanted chain and dataset
  (cryo's `logs` is `raw_logs`, `transactions` is `raw_transactions`) are used.

Both numbers of a name are inclusive. The directory given as the archive may hold
the files itself, or a subdirectory named after the dataset
(`<archive>/raw_logs/...`), so one archive root can serve every dataset of a
chain. Other files (temporary files, other datasets) are ignored.

Every block of a range being read must be in exactly one file, or be recorded as
written-without-rows in the directory's coverage file (`_chaintap_coverage.json`,
kept by chaintap's file sink: see `chaintap.datasets.coverage`). A block neither
covers is a gap, and reading across it is an error rather than a silent loss of
rows. Two files that share a block are an error too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from chaintap.datasets.coverage import (
    COVERAGE_FILE,
    covers,
    first_uncovered,
    read_coverage,
)
from chaintap.errors import ConfigError
from chaintap.spec.model import BlockRange

log = logging.getLogger(__name__)

CHAINTAP = "chaintap"
CRYO = "cryo"
# A stretch the coverage file records as flushed without rows: no file to read.
EMPTY = "empty"

_CHAINTAP_NAME = re.compile(r"^(?P<first>\d+)-(?P<last>\d+)\.parquet$")
_CRYO_NAME = re.compile(
    r"^(?P<chain>[^_][^/]*?)__(?P<dataset>[a-z0-9_]+?)__(?:(?P<label>.+)__)?"
    r"(?P<first>\d+)_to_(?P<last>\d+)\.parquet$"
)

# cryo's dataset names for the chaintap datasets they carry.
CRYO_DATASETS: dict[str, str] = {
    "logs": "raw_logs",
    "transactions": "raw_transactions",
    "blocks": "blocks",
    "erc20_transfers": "erc20_transfers",
}


@dataclass(frozen=True)
class ArchiveFile:
    """One Parquet file and the inclusive block range its name says it holds."""

    path: Path
    blocks: BlockRange
    style: str
    # For cryo names: the chain and the chaintap dataset the name gives.
    chain: str | None = None
    dataset: str | None = None


def parse_name(path: Path) -> ArchiveFile | None:
    """The `ArchiveFile` a file name describes, None when it follows neither scheme.

    A name whose first block is after its last is not a range and gives None.
    """
    match = _CHAINTAP_NAME.match(path.name)
    if match is not None:
        first, last = int(match["first"]), int(match["last"])
        return (
            ArchiveFile(path, BlockRange(first, last), CHAINTAP)
            if first <= last
            else None
        )

    match = _CRYO_NAME.match(path.name)
    if match is None:
        return None
    first, last = int(match["first"]), int(match["last"])
    if first > last:
        return None
    dataset = CRYO_DATASETS.get(match["dataset"], match["dataset"])
    return ArchiveFile(path, BlockRange(first, last), CRYO, match["chain"], dataset)


@dataclass(frozen=True)
class Archive:
    """The files of one dataset in one archive directory, sorted by first block."""

    directory: Path
    files: tuple[ArchiveFile, ...]
    # Ranges the file sink recorded as written, rows or not.
    recorded: tuple[BlockRange, ...] = ()

    @property
    def blocks(self) -> BlockRange:
        """From the first block a file or the coverage record holds to the last."""
        spans = [f.blocks for f in self.files] + list(self.recorded)
        return BlockRange(min(b.start for b in spans), max(b.end for b in spans))

    def covering(self, wanted: BlockRange) -> list[ArchiveFile]:
        """The files holding the blocks of `wanted`, in block order.

        Raises `ConfigError` naming the missing blocks when some block of `wanted`
        is in no file, and naming both files when two files share a block inside
        `wanted`.
        """
        chosen = [
            f
            for f in self.files
            if f.blocks.end >= wanted.start and f.blocks.start <= wanted.end
        ]
        covered: list[ArchiveFile] = []
        expected = wanted.start
        for index, item in enumerate(chosen):
            if item.blocks.start > expected:
                covered.append(
                    self._empty(BlockRange(expected, item.blocks.start - 1), wanted)
                )
            if index and item.blocks.start <= chosen[index - 1].blocks.end:
                raise ConfigError(
                    f"archive {self.directory}: files {chosen[index - 1].path.name} "
                    f"and {item.path.name} both hold blocks from "
                    f"{item.blocks.start}; remove one of them (an archive holds "
                    f"each block once)"
                )
            covered.append(item)
            expected = item.blocks.end + 1
        if expected <= wanted.end:
            covered.append(self._empty(BlockRange(expected, wanted.end), wanted))
        return covered

    def _empty(self, missing: BlockRange, wanted: BlockRange) -> ArchiveFile:
        """The recorded empty stretch `missing`, or a ConfigError for a gap."""
        if covers(self.recorded, missing):
            return ArchiveFile(self.directory / COVERAGE_FILE, missing, EMPTY)
        held = self.blocks
        missing = first_uncovered(self.recorded, missing)
        raise ConfigError(
            f"archive {self.directory}: blocks {missing} are in no file, but blocks "
            f"{wanted} were asked for (archive holds {held}); add the "
            f"missing files, or narrow start_block/end_block to blocks the archive "
            f"holds"
        )


def dataset_directory(root: Path, dataset: str) -> Path:
    """`root/<dataset>` when that directory exists, else `root` itself."""
    nested = root / dataset
    return nested if nested.is_dir() else root


def discover(root: Path, chain: str, dataset: str) -> Archive:
    """The archive of `chain`.`dataset` under `root` (see the module docstring).

    Raises `ConfigError` when `root` is not a directory or holds no file of the
    dataset. Files are listed once here; files added later are not seen.
    """
    if not root.is_dir():
        raise ConfigError(
            f"archive {root} is not a directory; set the source's `archive` option "
            f"(or CHAINTAP_ARCHIVE_{chain.upper()}) to a directory of Parquet files"
        )
    directory = dataset_directory(root, dataset)

    files: list[ArchiveFile] = []
    ignored = 0
    for path in directory.iterdir():
        parsed = parse_name(path) if path.is_file() else None
        if parsed is None or (
            parsed.style == CRYO and (parsed.dataset, parsed.chain) != (dataset, chain)
        ):
            ignored += 1
            continue
        files.append(parsed)
    if ignored:
        log.debug("archive %s: ignored %d other entries", directory, ignored)

    recorded = tuple(read_coverage(directory))
    if not files and not recorded:
        raise ConfigError(
            f"archive {directory} holds no Parquet file of {chain}.{dataset}; "
            f"expected names like 000017000000-000017000049.parquet or "
            f"{chain}__{_cryo_name(dataset)}__00017000000_to_00017099999.parquet"
        )
    files.sort(key=lambda f: (f.blocks.start, f.blocks.end))
    return Archive(directory, tuple(files), recorded)


def _cryo_name(dataset: str) -> str:
    for cryo, ours in CRYO_DATASETS.items():
        if ours == dataset:
            return cryo
    return dataset
