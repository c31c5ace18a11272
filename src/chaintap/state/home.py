"""Where chaintap keeps local state: `CHAINTAP_HOME`, default `~/.chaintap`."""

from __future__ import annotations

import os
from pathlib import Path

from chaintap.errors import ConfigError


def chaintap_home() -> Path:
    """The state directory, created with owner-only permissions when missing."""
    home = Path(os.environ.get("CHAINTAP_HOME") or Path.home() / ".chaintap")
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise ConfigError(
            f"CHAINTAP_HOME {str(home)!r} cannot be used as chaintap's state "
            f"directory ({err.strerror or err}); point CHAINTAP_HOME at a directory"
        ) from err
    return home
