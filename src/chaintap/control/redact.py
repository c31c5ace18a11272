"""Keep secret values out of everything the control plane shows or stores.

Specs name secrets (`secret_name: MY_DB`) and never hold their values, but a child
may still print one (a driver error quoting its DSN). Every log line, last error
and spec text passes through `Redactor.scrub` before it is written or served.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from chaintap.state.secrets import SecretStore

log = logging.getLogger(__name__)

MASK = "**********"
# Shorter values would mask ordinary words and numbers all over the logs.
_MIN_SECRET_LEN = 4
_SECRET_ENV_PREFIX = "CHAINTAP_SECRET_"
_OTHER_SECRET_ENV = ("CHAINTAP_SERVER_TOKEN",)


class Redactor:
    """Replaces every known secret value with a mask."""

    def __init__(self, values: list[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.values = sorted(
            {v for v in values if len(v) >= _MIN_SECRET_LEN}, key=len, reverse=True
        )

    @classmethod
    def load(cls, home: Path, extra: tuple[str, ...] = ()) -> Redactor:
        """The values of the local secret store, CHAINTAP_SECRET_* and the token."""
        values = list(extra)
        store = SecretStore(home)
        try:
            for name in store.names():
                secret = store.get(name)
                if secret is not None:
                    values.append(secret.reveal())
        except (OSError, ValueError) as err:
            log.warning("cannot read the secret store to mask its values: %s", err)
        for key, value in os.environ.items():
            if key.startswith(_SECRET_ENV_PREFIX) or key in _OTHER_SECRET_ENV:
                values.append(value)
        return cls(values)

    def scrub(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text
