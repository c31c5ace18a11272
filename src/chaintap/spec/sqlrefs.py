"""Parse the SQL of transforms and filters, and find which tables a query reads.

Pipeline files in the wild quote identifiers both ways (`my-logs` and "my-logs"), so
text is parsed with a short list of dialects and the first that accepts it wins.
Parsing here only checks syntax and finds names; the SQL engine that runs the
query is the judge of everything else (functions, types, columns).

TODO: syntax is judged by sqlglot, not by the engine that runs the query. SQL the
engine accepts but none of these dialects parse is reported as a problem here (a
false alarm the user cannot work around), and SQL they parse but the engine
rejects only fails when the transform opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import traverse_scope

from chaintap.errors import ConfigError

# Queries: MySQL's dialect accepts backtick-quoted names (Turbo's habit) and
# double-quoted ones in FROM; the others cover Postgres-only syntax.
QUERY_DIALECTS: tuple[str, ...] = ("mysql", "postgres", "duckdb")
# Predicates: Postgres first, so `||` is concatenation (MySQL reads it as OR);
# MySQL then accepts backtick-quoted column names.
PREDICATE_DIALECTS: tuple[str, ...] = ("postgres", "mysql", "duckdb")


class SqlSyntaxError(ConfigError):
    """SQL that does not parse, or is not the kind of statement expected.

    `line` and `column` are 1-based positions inside the SQL text, when known.
    """

    def __init__(
        self, message: str, line: int | None = None, column: int | None = None
    ):
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class _Failure:
    message: str
    line: int | None
    column: int | None


def parse_query(sql: str) -> exp.Query:
    """Parse exactly one SELECT (or UNION, ...) query; raise `SqlSyntaxError`."""
    statements = _parse(sql, QUERY_DIALECTS, "query")
    found = [s for s in statements if s is not None]
    if len(found) != 1:
        raise SqlSyntaxError(
            f"expected exactly one SELECT query, found {len(found)} statements"
        )
    if not isinstance(found[0], exp.Query):
        kind = found[0].key.upper()
        raise SqlSyntaxError(f"expected a SELECT query, found a {kind} statement")
    return found[0]


def parse_predicate(text: str) -> exp.Expr:
    """Parse one boolean expression (a WHERE clause body); raise `SqlSyntaxError`."""
    statements = _parse(text, PREDICATE_DIALECTS, "predicate")
    found = [s for s in statements if s is not None]
    if len(found) != 1 or not isinstance(found[0], exp.Condition):
        raise SqlSyntaxError(
            "expected a single predicate such as `address = '0x...' AND "
            "block_number >= 100`, not a query or several statements"
        )
    return found[0]


def table_refs(sql: str) -> tuple[str, ...]:
    """The tables a query reads in FROM / JOIN, in order of appearance, deduplicated.

    Names bound by WITH (CTEs) and subquery aliases are not tables and are left
    out; a CTE that reads a real table of the same name (`WITH logs AS (SELECT *
    FROM logs)`) still yields that table. Qualified names keep their qualifier
    (`db.t`), so they never silently match a node named `t`.
    """
    query = parse_query(sql)
    seen: dict[str, None] = {}
    try:
        scopes = traverse_scope(query)
    except SqlglotError as err:
        raise SqlSyntaxError(f"cannot resolve the query's tables: {err}") from err

    for scope in scopes:
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and source.name:
                parts = [p for p in (source.catalog, source.db, source.name) if p]
                seen.setdefault(".".join(parts), None)
    return tuple(seen)


def _parse(text: str, dialects: tuple[str, ...], what: str) -> list[exp.Expr | None]:
    if not text.strip():
        raise SqlSyntaxError(f"the {what} is empty")

    first: _Failure | None = None
    for dialect in dialects:
        try:
            return sqlglot.parse(text, read=dialect)
        except ParseError as err:
            first = first or _failure(err)
        except TokenError as err:
            message = f"{err}; look for an unclosed quote or comment"
            first = first or _Failure(message, None, None)

    assert first is not None  # the loop ran at least once and never returned
    raise SqlSyntaxError(first.message, first.line, first.column)


def _failure(err: ParseError) -> _Failure:
    # sqlglot's own message embeds terminal colour codes; build a plain one.
    if not err.errors:
        return _Failure(str(err), None, None)
    detail = err.errors[0]
    line, column = detail.get("line"), detail.get("col")
    near = (detail.get("highlight") or "").strip()
    message = _plain(str(detail.get("description") or "syntax error"))
    if near:
        message += f" near {near!r}"
    if isinstance(line, int):
        message += f" (line {line} of the SQL, column {column})"
    return _Failure(
        message,
        line if isinstance(line, int) else None,
        column if isinstance(column, int) else None,
    )


_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")
_PARTS = {"this": "operand", "expression": "right-hand side"}


def _plain(description: str) -> str:
    """sqlglot's "Required keyword: 'x' missing for <class ...>" in user words."""
    match = _MISSING.search(description)
    if match is None:
        return description
    part = _PARTS.get(match.group(1), match.group(1))
    return f"incomplete expression: {match.group(2)} has no {part}"
