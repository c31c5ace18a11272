"""The `type: postgres` sink: COPY into PostgreSQL, upserts on a primary key."""

from chaintap.sinks.postgres.config import PostgresSinkConfig
from chaintap.sinks.postgres.errors import PostgresSinkError, PostgresUnavailable
from chaintap.sinks.postgres.sink import PostgresSink

__all__ = [
    "PostgresSink",
    "PostgresSinkConfig",
    "PostgresSinkError",
    "PostgresUnavailable",
]
