"""Named secrets (such as a Postgres URL) for `secret_name` options.

A secret named `MY_DB` resolves from the environment variable `CHAINTAP_SECRET_MY_DB`
first, then from the local store `CHAINTAP_HOME/secrets.json`, which is written with
owner-only permissions (0600). Values are wrapped in `SecretStr` so they never show
up in reprs, logs or error messages by accident.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from chaintap.errors import ConfigError
from chaintap.state.home import chaintap_home

# Names are case-insensitive and `-` equals `_`: a name is stored in the form of
# the environment variable CHAINTAP_SECRET_<NAME> it can also come from.
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")


class SecretStr:
    """A string that hides its value everywhere except `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"


def canonical(name: str) -> str:
    """The stored form of a secret name: upper-case, `-` as `_`."""
    return name.upper().replace("-", "_")


def env_var_for(name: str) -> str:
    return "CHAINTAP_SECRET_" + canonical(name)


class SecretStore:
    """The local secret file; every write replaces it atomically with mode 0600."""

    def __init__(self, home: Path | None = None) -> None:
        self.path = (home or chaintap_home()) / "secrets.json"

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text())
        return {str(k): str(v) for k, v in data.items()}

    def _save(self, data: dict[str, str]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def names(self) -> list[str]:
        return sorted(self._load())

    def get(self, name: str) -> SecretStr | None:
        value = self._load().get(canonical(name))
        return None if value is None else SecretStr(value)

    def put(self, name: str, value: str) -> None:
        if not SECRET_NAME.match(name):
            raise ConfigError(
                f"secret name {name!r} is invalid: use letters, digits, _ and - "
                f"(it is also the variable CHAINTAP_SECRET_<NAME>)"
            )
        if not value.strip():
            raise ConfigError(f"secret {name!r} would be empty; give it a value")
        data = self._load()
        data[canonical(name)] = value
        self._save(data)

    def delete(self, name: str) -> bool:
        data = self._load()
        if canonical(name) not in data:
            return False
        del data[canonical(name)]
        self._save(data)
        return True


def resolve_secret(name: str, store: SecretStore | None = None) -> SecretStr:
    """The secret `name` from the environment or the local store, else ConfigError."""
    env_value = os.environ.get(env_var_for(name))
    if env_value:
        return SecretStr(env_value)
    stored = (store or SecretStore()).get(name)
    if stored is not None:
        return stored
    raise ConfigError(
        f"secret {name!r} is not set: export {env_var_for(name)}=<value> "
        f"or run `chaintap secret create {name}`"
    )
