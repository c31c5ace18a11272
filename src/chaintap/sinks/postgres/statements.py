"""The SQL a postgres sink runs: catalog look-ups, DDL, COPY and the merge.

Every name is quoted with `psycopg.sql.Identifier`, so table and column names from
pipeline files never reach the server as raw SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from chaintap.datasets.ops import DELETE_OP, OP_COLUMN
from chaintap.sinks.postgres.schema import ExistingColumn

# A column whose value 'd' marks the row as a delete of its primary key.
# Input order of the staged rows, so the last row of a key wins.
SEQ_COLUMN = "_chaintap_seq"
STAGE_TABLE = "chaintap_stage"


@dataclass(frozen=True)
class WritePlan:
    """How one sink's rows travel: COPY (into staging unless `direct`), then merge.

    `copy_types` are the column types of the COPY target in COPY column order:
    the stored columns, then `_gs_op` and the row number when staging.
    """

    copy_types: list[str]
    direct: bool
    create_stage: sql.Composed
    copy: sql.Composed
    merge: sql.Composed
    delete: sql.Composed | None


def write_plan(
    table: sql.Identifier,
    columns: dict[str, str],
    key: tuple[str, ...],
    has_op: bool,
    direct: bool,
    copy_format: str,
) -> WritePlan:
    """The statements for rows of `columns` (name → type) into `table`.

    `direct` (COPY straight into the table) is honoured only for append-only rows
    whose types equal the table's; everything else goes through staging.
    """
    direct = direct and not key and not has_op
    names = list(columns)
    staged = [(n, t) for n, t in columns.items()]
    if has_op:
        staged.append((OP_COLUMN, "text"))
    staged.append((SEQ_COLUMN, "bigint"))

    stage = sql.Identifier(STAGE_TABLE)
    create_stage = sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS"
    ).format(stage, _definitions(staged))
    options = sql.SQL("FORMAT BINARY" if copy_format == "binary" else "FORMAT CSV")
    target, copied = (table, names) if direct else (stage, [n for n, _ in staged])
    copy = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        target, identifiers(copied), options
    )

    copy_types = list(columns.values()) if direct else [t for _, t in staged]
    merge, delete = _merge(table, names, key, has_op)
    return WritePlan(copy_types, direct, create_stage, copy, merge, delete)


def _merge(
    table: sql.Identifier, names: list[str], key: tuple[str, ...], has_op: bool
) -> tuple[sql.Composed, sql.Composed | None]:
    """The statements moving staged rows into the table."""
    stage, columns = sql.Identifier(STAGE_TABLE), identifiers(names)
    if not key:
        # Append-only: a batch delivered twice (replay after a crash) is stored
        # twice. Set primary_key for exactly-once results.
        merge = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY {}").format(
            table, columns, columns, stage, sql.Identifier(SEQ_COLUMN)
        )
        return merge, None

    op = sql.Identifier(OP_COLUMN)
    latest = sql.SQL(
        "SELECT DISTINCT ON ({key}) * FROM {stage} ORDER BY {key}, {seq} DESC"
    ).format(key=identifiers(key), stage=stage, seq=sql.Identifier(SEQ_COLUMN))
    keep = sql.SQL(" WHERE {} IS DISTINCT FROM {}").format(op, DELETE_OP)
    updates = [
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
        for n in names
        if n not in key
    ]
    on_conflict = (
        sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(updates))
        if updates
        else sql.SQL("DO NOTHING")
    )
    merge = sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM ({latest}) AS latest"
        "{keep} ON CONFLICT ({key}) {on_conflict}"
    ).format(
        table=table,
        columns=columns,
        latest=latest,
        keep=keep if has_op else sql.SQL(""),
        key=identifiers(key),
        on_conflict=on_conflict,
    )
    if not has_op:
        return merge, None

    matches = sql.SQL(" AND ").join(
        sql.SQL("t.{0} = latest.{0}").format(sql.Identifier(c)) for c in key
    )
    delete = sql.SQL(
        "DELETE FROM {table} AS t USING ({latest}) AS latest "
        "WHERE latest.{op} = {d} AND {matches}"
    ).format(table=table, latest=latest, op=op, d=DELETE_OP, matches=matches)
    return merge, delete


def create_table(
    table: sql.Identifier, columns: dict[str, str], key: tuple[str, ...]
) -> sql.Composed:
    """CREATE TABLE with the key as PRIMARY KEY.

    NOTE: plain CREATE TABLE, not IF NOT EXISTS: two sinks creating the same
    missing table at the same moment make one of them fail at open.
    """
    parts = [_definitions(list(columns.items()))]
    if key:
        parts.append(sql.SQL("PRIMARY KEY ({})").format(identifiers(key)))
    return sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(parts))


def create_schema(schema: str) -> sql.Composed:
    return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))


def schema_exists(conn: psycopg.Connection[TupleRow], schema: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
    ).fetchone()
    return found is not None


def find_relation(
    conn: psycopg.Connection[TupleRow], schema: str, table: str
) -> tuple[int, str] | None:
    """The oid and relkind of `schema.table`, None when there is no such relation."""
    found = conn.execute(
        "SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    return None if found is None else (int(found[0]), str(found[1]))


def describe_table(
    conn: psycopg.Connection[TupleRow], oid: int
) -> tuple[dict[str, ExistingColumn], list[tuple[str, ...]]]:
    """The table's columns and the key columns of its usable unique indexes.

    Usable means what ON CONFLICT can infer as an arbiter: unique, valid,
    immediate, without a predicate or expressions (constraints included).
    """
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull, atthasdef "
        "FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        (oid,),
    ).fetchall()
    existing = {
        str(name): ExistingColumn(str(name), str(kind), bool(nn), bool(default))
        for name, kind, nn, default in columns
    }

    keys = conn.execute(
        "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s AND i.indisunique AND i.indisvalid "
        "AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL "
        "AND k.ord <= i.indnkeyatts GROUP BY i.indexrelid",
        (oid,),
    ).fetchall()
    return existing, [tuple(str(c) for c in row[0]) for row in keys]


def identifiers(names: list[str] | tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _definitions(columns: list[tuple[str, str]]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns
    )
