"""Dataset archives: Parquet files of past blocks read as a bounded source.

`ArchiveSource` replays a dataset from a directory of Parquet files named by block
range (chaintap's file sink layout or cryo's); see `layout` for the names and
`source` for what a read guarantees.
"""

from chaintap.datasets.archives import archive_env_var
from chaintap.sources.archive.layout import Archive, ArchiveFile, discover, parse_name
from chaintap.sources.archive.source import ArchiveSource, ReadStats, archive_root

__all__ = [
    "Archive",
    "ArchiveFile",
    "ArchiveSource",
    "ReadStats",
    "archive_env_var",
    "archive_root",
    "discover",
    "parse_name",
]
