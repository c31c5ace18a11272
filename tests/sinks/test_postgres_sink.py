"""PostgresSink against a real, throwaway PostgreSQL server (`pg_url`).

Expected values come from Python ints and from the raw mainnet JSON in
../shared/chaindata, never from the sink's own encoders.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.datasets.evm import ERC20_TRANSFERS
from chaintap.errors import ConfigError, TerminalError, TransientError
from chaintap.sinks.postgres import PostgresSink, PostgresUnavailable
from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.tuning import ResourceProfile, profile_for
from support.postgres_fixtures import PostgresServer

pytestmark = pytest.mark.postgres

CHAINDATA = Path(__file__).resolve().parents[2].parent / "shared" / "chaindata"
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BLOCKS = BlockRange(1, 1)


def spec(key: str | None = "id", **options: Any) -> SinkSpec:
    options = {"table": "transfers", "secret_name": "TEST_PG", **options}
    return SinkSpec("pg", "postgres", "transfers", primary_key=key, options=options)


@pytest.fixture
def make_sink(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Builds sinks writing to this test's database; closes them afterwards."""
    monkeypatch.setenv("CHAINTAP_SECRET_TEST_PG", pg_url)
    made: list[PostgresSink] = []

    def make(
        key: str | None = "id",
        profile: ResourceProfile | None = None,
        copy_format: str = "binary",
        **options: Any,
    ) -> PostgresSink:
        sink = PostgresSink(
            spec(key, **options), "test-pipe", profile or profile_for("xs"), copy_format
        )
        made.append(sink)
        return sink

    yield make
    for sink in made:
        with contextlib.suppress(TransientError, TerminalError):
            sink.close()


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement).fetchall()


def mainnet_transfers(block: int = 16899757) -> list[dict[str, Any]]:
    """ERC-20 Transfer rows of a mainnet block, read straight from its receipts."""
    with gzip.open(CHAINDATA / "ethereum-mainnet" / f"{block}.json.gz") as handle:
        raw = json.load(handle)
    timestamp = int(raw["block"]["timestamp"], 16)
    rows = []
    for receipt in raw["receipts"]:
        for log in receipt["logs"]:
            topics = log["topics"]
            if len(topics) != 3 or topics[0] != TRANSFER:
                continue
            rows.append(
                {
                    "id": f"{log['transactionHash']}_{int(log['logIndex'], 16)}",
                    "sender": "0x" + topics[1][-40:],
                    "recipient": "0x" + topics[2][-40:],
                    "amount": int(log["data"], 16),
                    "address": log["address"],
                    "block_number": int(log["blockNumber"], 16),
                    "block_timestamp": timestamp,
                    "block_hash": log["blockHash"],
                    "transaction_hash": log["transactionHash"],
                    "transaction_index": int(log["transactionIndex"], 16),
                    "log_index": int(log["logIndex"], 16),
                }
            )
    return rows


def transfers_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = {name: [r[name] for r in rows] for name in ERC20_TRANSFERS.names}
    columns["amount"] = u256.array(columns["amount"])  # type: ignore[assignment]
    return pa.table(columns, schema=ERC20_TRANSFERS)


def keyed(ids: list[str], amounts: list[int], ops: list[str] | None = None) -> pa.Table:
    columns: dict[str, Any] = {
        "id": pa.array(ids, pa.string()),
        "amount": u256.array(amounts),
    }
    if ops is not None:
        columns["_gs_op"] = pa.array(ops, pa.string())
    return pa.table(columns)


def amounts(url: str) -> dict[str, str]:
    rows = query(url, "SELECT id, amount::text FROM public.transfers ORDER BY id")
    return {str(i): str(a) for i, a in rows}


@pytest.mark.parametrize("copy_format", ["binary", "csv"])
def test_u256_extremes_round_trip_exactly(
    make_sink: Any, pg_url: str, copy_format: str
) -> None:
    values = [0, 1, 9999, 10_000, 10**18, 2**64, 10**77, 2**255, 2**256 - 1]
    ids = [f"k{i}" for i in range(len(values))]
    sink = make_sink(copy_format=copy_format)
    table = keyed(ids, values).append_column(
        "maybe", u256.array([None if i % 2 else v for i, v in enumerate(values)])
    )

    sink.open(table.schema)
    sink.write_batch(table, BLOCKS)
    sink.flush()

    stored = query(pg_url, "SELECT id, amount::text, maybe::text FROM transfers")
    expected = {
        i: (str(v), None if n % 2 else str(v))
        for n, (i, v) in enumerate(zip(ids, values, strict=True))
    }
    assert {i: (a, m) for i, a, m in stored} == expected
    # The server itself must see the numbers, not strings that look like them.
    top = query(
        pg_url, "SELECT amount = 2::numeric ^ 256 - 1 FROM transfers WHERE id = 'k8'"
    )
    assert top == [(True,)]


def test_creates_schema_and_table_from_arrow(make_sink: Any, pg_url: str) -> None:
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("amount", u256.U256_TYPE),
            ("n64", pa.int64()),
            ("n32", pa.int32()),
            ("flag", pa.bool_()),
            ("ratio", pa.float64()),
            ("at", pa.timestamp("s", "UTC")),
            ("raw", pa.binary()),
            ("tags", pa.list_(pa.string())),
            ("meta", pa.struct([("a", pa.int64())])),
        ]
    )
    sink = make_sink(schema="analytics", table="everything")
    sink.open(schema)
    row = {
        "id": "x",
        "amount": u256.to_bytes(5),
        "n64": -(2**63),
        "n32": 7,
        "flag": True,
        "ratio": 0.25,
        "at": 1_680_000_000,
        "raw": b"\x00\xff",
        "tags": ["a", "b"],
        "meta": {"a": 1},
    }
    sink.write_batch(pa.Table.from_pylist([row], schema=schema), BLOCKS)
    sink.flush()

    types = query(
        pg_url,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'analytics.everything'::regclass AND attnum > 0 "
        "ORDER BY attnum",
    )
    assert types == [
        ("id", "text"),
        ("amount", "numeric(78,0)"),
        ("n64", "bigint"),
        ("n32", "integer"),
        ("flag", "boolean"),
        ("ratio", "double precision"),
        ("at", "timestamp with time zone"),
        ("raw", "bytea"),
        ("tags", "jsonb"),
        ("meta", "jsonb"),
    ]
    key = query(
        pg_url,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'analytics.everything'::regclass AND contype = 'p'",
    )
    assert key == [("PRIMARY KEY (id)",)]
    stored = query(
        pg_url,
        "SELECT n64, extract(epoch FROM at)::bigint, raw, tags, meta "
        "FROM analytics.everything",
    )
    assert stored == [(-(2**63), 1_680_000_000, b"\x00\xff", ["a", "b"], {"a": 1})]


def test_mainnet_transfers_upsert_idempotently(make_sink: Any, pg_url: str) -> None:
    rows = mainnet_transfers()
    table = transfers_table(rows)
    sink = make_sink()
    sink.open(table.schema)

    sink.write_batch(table, BlockRange(16899757, 16899757))
    sink.flush()
    once = query(pg_url, "SELECT *, amount::text FROM transfers ORDER BY id")
    sink.write_batch(table, BlockRange(16899757, 16899757))
    sink.flush()
    twice = query(pg_url, "SELECT *, amount::text FROM transfers ORDER BY id")

    assert twice == once
    assert len(once) == len({r["id"] for r in rows}) == 204
    assert {r[0]: r[-1] for r in once} == {r["id"]: str(r["amount"]) for r in rows}
    assert sink.rows_flushed == 2 * len(rows)


def test_last_row_of_a_key_wins_within_a_flush(make_sink: Any, pg_url: str) -> None:
    sink = make_sink()
    sink.open(keyed([], []).schema)

    sink.write_batch(keyed(["a", "b", "a"], [1, 2, 3]), BlockRange(1, 1))
    sink.write_batch(keyed(["b", "c", "a"], [20, 30, 4]), BlockRange(2, 2))
    sink.flush()

    assert amounts(pg_url) == {"a": "4", "b": "20", "c": "30"}


def test_last_row_wins_when_loads_happen_before_the_flush(
    make_sink: Any, pg_url: str
) -> None:
    """sink_batch_rows = 2 makes write_batch load into the open transaction."""
    profile = ResourceProfile("tiny", 1, 1, 1, 1, 2)
    sink = make_sink(profile=profile)
    sink.open(keyed([], []).schema)

    sink.write_batch(keyed(["a", "b"], [1, 2]), BlockRange(1, 1))
    sink.write_batch(keyed(["a"], [3]), BlockRange(2, 2))
    assert query(pg_url, "SELECT count(*) FROM transfers") == [(0,)]
    sink.flush()

    assert amounts(pg_url) == {"a": "3", "b": "2"}


def test_gs_op_d_deletes_by_primary_key(make_sink: Any, pg_url: str) -> None:
    sink = make_sink()
    sink.open(keyed([], [], []).schema)
    sink.write_batch(keyed(["a", "b", "c"], [1, 2, 3], ["c", "c", "c"]), BLOCKS)
    sink.flush()

    # b: deleted. d: inserted then deleted. c: deleted then re-inserted. x: never
    # existed, deleting it is harmless.
    ops = keyed(
        ["b", "d", "d", "c", "c", "x"],
        [0, 4, 0, 0, 33, 0],
        ["d", "c", "d", "d", "u", "d"],
    )
    sink.write_batch(ops, BlockRange(2, 2))
    sink.flush()

    assert amounts(pg_url) == {"a": "1", "c": "33"}
    columns = query(
        pg_url,
        "SELECT attname FROM pg_attribute WHERE attrelid = 'transfers'::regclass "
        "AND attnum > 0 AND NOT attisdropped",
    )
    assert ("_gs_op",) not in columns


def test_incompatible_existing_table_fails_before_writing(
    make_sink: Any, pg_url: str
) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "CREATE TABLE transfers (id text PRIMARY KEY, amount bigint, "
            "note text NOT NULL)"
        )
    table = keyed(["a"], [1]).append_column("block_number", pa.array([5]))
    sink = make_sink()

    with pytest.raises(ConfigError) as caught:
        sink.open(table.schema)

    message = str(caught.value)
    assert "public.transfers" in message
    assert "'amount' is bigint but the rows carry numeric(78,0)" in message
    assert "'block_number' (bigint) is missing" in message
    assert "'note' is NOT NULL" in message
    assert query(pg_url, "SELECT count(*) FROM transfers") == [(0,)]


def test_missing_unique_key_is_a_clear_error(make_sink: Any, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE transfers (id text, amount numeric)")
        # A partial unique index cannot arbitrate ON CONFLICT, so it does not count.
        conn.execute("CREATE UNIQUE INDEX ON transfers (id) WHERE amount > 0")

    with pytest.raises(
        ConfigError, match=r"no unique constraint or index on exactly \(id\)"
    ):
        make_sink().open(keyed([], []).schema)


def test_compatible_existing_table_is_used(make_sink: Any, pg_url: str) -> None:
    """Wider types, an extra nullable column and a unique index are accepted."""
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "CREATE TABLE transfers (note text, id varchar(10), amount numeric, "
            "block_number numeric(30,0))"
        )
        conn.execute("CREATE UNIQUE INDEX transfers_id ON transfers (id)")
    sink = make_sink()
    table = keyed(["a", "a"], [1, 2**256 - 1]).append_column(
        "block_number", pa.array([1, 2], pa.int64())
    )

    sink.open(table.schema)
    sink.write_batch(table, BLOCKS)
    sink.flush()

    assert query(
        pg_url, "SELECT note, id, amount::text, block_number FROM transfers"
    ) == [(None, "a", str(2**256 - 1), 2)]


def test_without_primary_key_rows_are_appended(make_sink: Any, pg_url: str) -> None:
    sink = make_sink(key=None)
    table = keyed(["a", "a"], [1, 2])
    sink.open(table.schema)
    sink.write_batch(table, BLOCKS)
    sink.flush()
    sink.write_batch(table, BLOCKS)
    sink.flush()

    stored = query(pg_url, "SELECT id, amount::text FROM transfers")
    assert sorted(stored) == [("a", "1"), ("a", "1"), ("a", "2"), ("a", "2")]


def test_deletes_without_primary_key_are_refused(make_sink: Any) -> None:
    with pytest.raises(ConfigError, match="no primary_key to delete by"):
        make_sink(key=None).open(keyed([], [], []).schema)


def test_unsupported_column_type_is_refused_up_front(make_sink: Any) -> None:
    schema = pa.schema([("id", pa.string()), ("span", pa.duration("s"))])
    with pytest.raises(ConfigError, match="'span' has unsupported type duration"):
        make_sink().open(schema)


def test_server_stopped_mid_write_raises_and_keeps_the_rows(
    make_sink: Any, pg_url: str, postgres_server: PostgresServer
) -> None:
    sink = make_sink()
    sink.open(keyed([], []).schema)
    sink.write_batch(keyed(["a"], [1]), BlockRange(1, 1))
    sink.flush()
    sink.write_batch(keyed(["b", "c"], [2, 3]), BlockRange(2, 3))

    postgres_server.stop()
    try:
        with pytest.raises(PostgresUnavailable) as caught:
            sink.flush()
        assert sink.rows_flushed == 1
        assert sink.rows_pending == 2
    finally:
        postgres_server.start()

    message = str(caught.value)
    assert isinstance(caught.value, TransientError)
    assert f"127.0.0.1:{postgres_server.port}" in message
    assert "blocks 2..3" in message
    assert postgres_server.password not in message
    assert amounts(pg_url) == {"a": "1"}

    sink.flush()
    assert amounts(pg_url) == {"a": "1", "b": "2", "c": "3"}
    assert sink.rows_flushed == 3


def test_dropped_connection_is_reopened_and_the_transaction_resent(
    make_sink: Any, pg_url: str, postgres_server: PostgresServer
) -> None:
    """A restart between an early load and the flush loses the open transaction;
    the sink must send all of it again on a new connection."""
    sink = make_sink(profile=ResourceProfile("tiny", 1, 1, 1, 1, 2))
    sink.open(keyed([], []).schema)
    sink.write_batch(keyed(["a", "b"], [1, 2]), BlockRange(1, 1))

    postgres_server.stop(mode="immediate")
    postgres_server.start()
    sink.write_batch(keyed(["c"], [3]), BlockRange(2, 2))
    sink.flush()

    assert amounts(pg_url) == {"a": "1", "b": "2", "c": "3"}
    assert sink.rows_flushed == 3


def test_secret_resolves_from_environment(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAINTAP_HOME", str(tmp_path))
    monkeypatch.setenv("CHAINTAP_SECRET_WAREHOUSE_DB", pg_url)
    sink = PostgresSink(
        spec(secret_name="warehouse-db"), "test-pipe", profile_for("xs")
    )
    sink.open(keyed([], []).schema)
    sink.write_batch(keyed(["a"], [7]), BLOCKS)
    sink.close()
    sink.close()

    assert amounts(pg_url) == {"a": "7"}


def test_missing_secret_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAINTAP_HOME", str(tmp_path))
    monkeypatch.delenv("CHAINTAP_SECRET_NOPE", raising=False)
    sink = PostgresSink(spec(secret_name="NOPE"), "test-pipe", profile_for("xs"))
    with pytest.raises(ConfigError, match="CHAINTAP_SECRET_NOPE"):
        sink.open(keyed([], []).schema)


def test_wrong_password_is_terminal_and_masked(
    pg_url: str, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = pg_url.replace(postgres_server.password, "Wr0ng-S3cret")
    monkeypatch.setenv("CHAINTAP_SECRET_TEST_PG", wrong)
    sink = PostgresSink(spec(), "test-pipe", profile_for("xs"))

    with pytest.raises(TerminalError) as caught:
        sink.open(keyed([], []).schema)

    message = str(caught.value)
    assert "password authentication failed" in message
    assert "Wr0ng-S3cret" not in message
    assert "chaintap:***@127.0.0.1" in message
    assert "secret 'TEST_PG'" in message


def test_missing_table_option_names_sink_and_key() -> None:
    bad = SinkSpec("pg", "postgres", "t", options={"secret_name": "X"}, line=12)
    with pytest.raises(ConfigError) as caught:
        PostgresSink(bad, "test-pipe", profile_for("xs"))
    assert str(caught.value) == (
        "pipeline 'test-pipe', sink 'pg' (line 12): sinks.pg.table is required"
    )
