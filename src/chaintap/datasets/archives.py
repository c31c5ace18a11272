"""Where a source's Parquet archive is configured: its `archive` option or env var.

Kept beside the catalog so both validation (an archive source is bounded: an
archive holds a fixed block range) and the archive source agree on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ARCHIVE_OPTION = "archive"


def archive_env_var(chain: str) -> str:
    """The environment variable naming the archive of `chain`."""
    return "CHAINTAP_ARCHIVE_" + chain.upper().replace("-", "_")


def configured_archive(chain: str, options: dict[str, Any]) -> Path | None:
    """The archive directory for a source, None when it reads from a node."""
    configured = options.get(ARCHIVE_OPTION) or os.environ.get(archive_env_var(chain))
    return None if not configured else Path(str(configured)).expanduser()
