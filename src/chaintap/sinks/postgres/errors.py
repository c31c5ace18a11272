"""psycopg errors mapped onto chaintap's error tree, with messages a user can act on.

A server that cannot be reached, drops the connection, shuts down or is briefly
overloaded gives `PostgresUnavailable` (transient: nothing of the failed flush was
committed, so a retry sends it again). Everything else gives `PostgresSinkError`
(terminal). Messages name the pipeline, the sink and the server as
`user:***@host:port/db`; the password never appears, even when a driver message
quotes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import errors as pgerr
from psycopg.conninfo import conninfo_to_dict

from chaintap.errors import ChaintapError, ConfigError, TerminalError, TransientError


class PostgresUnavailable(TransientError):
    """The server was unreachable or lost the connection; the flush did not commit."""


class PostgresSinkError(TerminalError):
    """The server refused the work in a way that retrying cannot change."""


_TRANSIENT = (
    pgerr.ConnectionException,
    pgerr.AdminShutdown,
    pgerr.CrashShutdown,
    pgerr.CannotConnectNow,
    pgerr.TooManyConnections,
    pgerr.SerializationFailure,
    pgerr.DeadlockDetected,
)
# Connection failures carry no SQLSTATE; these phrases mark the ones that persist.
_LOGIN_REFUSED = re.compile(
    r"password authentication failed|no pg_hba\.conf entry|role .* does not exist"
    r"|no password supplied"
)
_NO_DATABASE = re.compile(r'database ".*" does not exist')


@dataclass(frozen=True)
class Target:
    """Which pipeline, sink and server a message is about; the password stays out."""

    pipeline: str
    sink: str
    secret_name: str
    user: str
    host: str
    port: str
    dbname: str
    password: str | None = None

    @classmethod
    def from_url(cls, url: str, pipeline: str, sink: str, secret_name: str) -> Target:
        """Parse a URL or key=value DSN; a malformed one is a ConfigError."""
        try:
            parts = conninfo_to_dict(url)
        except psycopg.Error as err:
            raise ConfigError(
                f"pipeline {pipeline!r}, sink {sink!r}: secret {secret_name!r} is not "
                f"a valid PostgreSQL URL; set it to "
                f"postgresql://user:password@host:port/database"
            ) from err
        return cls(
            pipeline=pipeline,
            sink=sink,
            secret_name=secret_name,
            user=str(parts.get("user", "")),
            host=str(parts.get("host", "localhost")),
            port=str(parts.get("port", "5432")),
            dbname=str(parts.get("dbname", parts.get("user", ""))),
            password=None if parts.get("password") is None else str(parts["password"]),
        )

    @property
    def server(self) -> str:
        login = f"{self.user}:***@" if self.user else ""
        return f"postgresql://{login}{self.host}:{self.port}/{self.dbname}"

    def __str__(self) -> str:
        return f"pipeline {self.pipeline!r}, sink {self.sink!r} ({self.server})"

    def mask(self, text: str) -> str:
        """`text` with the password replaced, in case a driver message quotes it."""
        if self.password:
            text = text.replace(self.password, "***")
        return text


def is_transient(err: BaseException) -> bool:
    """Whether `err` means the server was unreachable or dropped the session."""
    if isinstance(err, _TRANSIENT):
        return True
    if isinstance(err, psycopg.InterfaceError):
        return "closed" in str(err) or "lost" in str(err)
    if isinstance(err, psycopg.OperationalError):
        sqlstate = err.sqlstate
        if sqlstate is None:
            message = str(err)
            return not (_LOGIN_REFUSED.search(message) or _NO_DATABASE.search(message))
        return sqlstate.startswith("08")
    return False


def map_error(err: psycopg.Error, target: Target, doing: str) -> ChaintapError:
    """The chaintap error for a psycopg error raised while `doing` (a verb phrase)."""
    detail = target.mask(" ".join(str(err).split())).rstrip(" .")
    code = f" [SQLSTATE {err.sqlstate}]" if err.sqlstate else ""
    head = f"{target}: {doing} failed: {detail}{code}"

    if is_transient(err):
        return PostgresUnavailable(
            f"{head}. Nothing of this flush was committed; rerun once "
            f"{target.host}:{target.port} accepts connections again and the run "
            f"resumes from its last checkpoint"
        )
    return PostgresSinkError(f"{head}. {_remedy(err, target)}")


def _remedy(err: psycopg.Error, target: Target) -> str:
    message = str(err)
    state = err.sqlstate or ""
    if _LOGIN_REFUSED.search(message) or state.startswith("28"):
        return f"Check the user and password in secret {target.secret_name!r}"
    if _NO_DATABASE.search(message) or state == "3D000":
        return (
            f"Create database {target.dbname!r} or point secret "
            f"{target.secret_name!r} at an existing one"
        )
    if state == "42501":
        return (
            f"Grant user {target.user!r} USAGE and CREATE on the schema and "
            f"SELECT, INSERT, UPDATE, DELETE on the table"
        )
    if state.startswith("22"):
        return (
            "A value does not fit its column; widen the column or change the "
            "transform. Nothing of this flush was committed"
        )
    if state.startswith("23"):
        return (
            "A row breaks a constraint of the table (such as a NULL primary key); "
            "fix the transform or the table. Nothing of this flush was committed"
        )
    return "Nothing of this flush was committed"
