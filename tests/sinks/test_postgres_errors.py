"""psycopg errors raised by a real server, mapped to chaintap's error tree."""

from __future__ import annotations

import psycopg
import pytest

from chaintap.errors import ConfigError
from chaintap.sinks.postgres.errors import (
    PostgresSinkError,
    PostgresUnavailable,
    Target,
    map_error,
)
from support.postgres_fixtures import PostgresServer

pytestmark = pytest.mark.postgres


def raised(url: str, statement: str | None = None) -> psycopg.Error:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            if statement:
                conn.execute(statement)
    except psycopg.Error as err:
        return err
    raise AssertionError("expected psycopg to raise")


def target(url: str) -> Target:
    return Target.from_url(url, "pipe", "pg", "WAREHOUSE")


def test_refused_connection_is_transient(postgres_server: PostgresServer) -> None:
    url = postgres_server.url.replace(f":{postgres_server.port}/", ":1/")
    mapped = map_error(raised(url), target(url), "connecting")

    assert isinstance(mapped, PostgresUnavailable)
    assert str(mapped).startswith(
        "pipeline 'pipe', sink 'pg' (postgresql://chaintap:***@127.0.0.1:1/postgres): "
        "connecting failed: "
    )
    assert "Connection refused" in str(mapped)
    assert postgres_server.password not in str(mapped)


def test_admin_shutdown_is_transient(postgres_server: PostgresServer) -> None:
    # The session terminates itself: the server's "administrator command".
    err = raised(postgres_server.url, "SELECT pg_terminate_backend(pg_backend_pid())")
    mapped = map_error(err, target(postgres_server.url), "writing")
    assert isinstance(mapped, PostgresUnavailable)


def test_unknown_database_is_terminal_with_remedy(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url_for("no_such_db")
    mapped = map_error(raised(url), target(url), "connecting")

    assert isinstance(mapped, PostgresSinkError)
    assert "Create database 'no_such_db' or point secret 'WAREHOUSE'" in str(mapped)


def test_data_error_is_terminal(pg_url: str) -> None:
    err = raised(pg_url, "SELECT 'x'::int")
    mapped = map_error(err, target(pg_url), "writing")

    assert isinstance(mapped, PostgresSinkError)
    assert "[SQLSTATE 22P02]" in str(mapped)
    assert "Nothing of this flush was committed" in str(mapped)


def test_password_quoted_by_a_driver_message_is_masked() -> None:
    """A constructed error: no real server quotes the password back, so the
    masking of driver text is exercised directly."""
    url = "postgresql://me:hunter2@db.internal:6543/chain"
    err = psycopg.OperationalError("server said: bad secret hunter2")
    mapped = map_error(err, target(url), "connecting")

    assert "hunter2" not in str(mapped)
    assert "postgresql://me:***@db.internal:6543/chain" in str(mapped)


def test_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="secret 'WAREHOUSE' is not a valid"):
        target("host=x port=5432 nonsense")
