"""Where chaintap keeps local state: `CHAINTAP_HOME`, default `~/.chaintap`."""

from __future__ import annotations

import os
from pathlib import Path


def chaintap_home() -> Path:
    """The state directory, created with owner-only permissions when missing."""
    home = Path(os.environ.get("CHAINTAP_HOME") or Path.home() / ".chaintap")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home
