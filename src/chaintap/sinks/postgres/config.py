"""The typed options of a `type: postgres` sink.

```yaml
sinks:
  transfers_pg:
    type: postgres
    from: transfers
    schema: public          # default public
    table: erc20_transfers  # created when missing
    primary_key: id         # optional; "a, b" for a composite key
    secret_name: MY_PG      # a secret holding postgresql://user:password@host/db
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaintap.errors import ConfigError
from chaintap.spec.model import SinkSpec

# PostgreSQL silently truncates longer identifiers, which would make the table
# chaintap checks differ from the one it names.
MAX_IDENTIFIER_BYTES = 63


@dataclass(frozen=True)
class PostgresSinkConfig:
    """Where a postgres sink writes; `primary_key` is empty for append-only."""

    schema: str
    table: str
    primary_key: tuple[str, ...]
    secret_name: str

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @classmethod
    def from_spec(cls, spec: SinkSpec, pipeline: str) -> PostgresSinkConfig:
        """Read and check the options; ConfigError names the sink and the key."""
        options = spec.options
        schema = _identifier(spec, pipeline, "schema", options.get("schema", "public"))
        table = _identifier(spec, pipeline, "table", options.get("table"))
        secret = _text(spec, pipeline, "secret_name", options.get("secret_name"))

        raw_key = spec.primary_key or options.get("primary_key")
        if spec.primary_key and options.get("primary_key") not in (
            None,
            spec.primary_key,
        ):
            raise _error(spec, pipeline, "primary_key", "is given twice, differently")
        key = _primary_key(spec, pipeline, raw_key)
        return cls(schema=schema, table=table, primary_key=key, secret_name=secret)


def _primary_key(spec: SinkSpec, pipeline: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    text = _text(spec, pipeline, "primary_key", raw)
    columns = tuple(part.strip() for part in text.split(","))
    if any(not column for column in columns):
        raise _error(
            spec, pipeline, "primary_key", f"{text!r} has an empty column name"
        )
    if len(set(columns)) != len(columns):
        raise _error(spec, pipeline, "primary_key", f"{text!r} repeats a column")
    return columns


def _identifier(spec: SinkSpec, pipeline: str, key: str, value: Any) -> str:
    text = _text(spec, pipeline, key, value)
    if len(text.encode()) > MAX_IDENTIFIER_BYTES:
        raise _error(
            spec,
            pipeline,
            key,
            f"{text!r} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte "
            f"limit for names; choose a shorter one",
        )
    return text


def _text(spec: SinkSpec, pipeline: str, key: str, value: Any) -> str:
    if value is None:
        raise _error(spec, pipeline, key, "is required")
    if not isinstance(value, str) or not value.strip():
        raise _error(spec, pipeline, key, f"must be a non-empty string, not {value!r}")
    return value.strip()


def _error(spec: SinkSpec, pipeline: str, key: str, problem: str) -> ConfigError:
    line = f" (line {spec.line})" if spec.line else ""
    return ConfigError(
        f"pipeline {pipeline!r}, sink {spec.name!r}{line}: sinks.{spec.name}.{key} "
        f"{problem}"
    )
