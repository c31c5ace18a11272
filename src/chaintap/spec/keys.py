"""The pipeline file reference: every key each part of a file may hold.

The validator reads these tables (unknown keys, required keys, types, defaults), and
documentation can be generated from them, so the two cannot drift apart. The shape
is Goldsky Turbo's; keys chaintap adds are marked "chaintap" in their `doc`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaintap.tuning import DEFAULT_RESOURCE_SIZE, RESOURCE_PROFILES


class Kind(enum.Enum):
    """What a key's value must be; `value` is how the reference names it."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "one of"
    # Seconds as a number, or a string such as "500ms", "2s", "1m", "1h".
    DURATION = "duration"
    # A list of [start, end] pairs, each an inclusive window of blocks.
    BLOCK_RANGES = "list of [start, end]"
    MAPPING = "mapping"


@dataclass(frozen=True)
class Key:
    """One key: its kind, whether it must be given, its default and meaning."""

    name: str
    kind: Kind
    doc: str
    required: bool = False
    default: object | None = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None


def _table(*keys: Key) -> dict[str, Key]:
    return {key.name: key for key in keys}


TOP_LEVEL = _table(
    Key(
        "name",
        Kind.STRING,
        "pipeline name: lowercase letters, digits and hyphens, at most 50 "
        "characters, starting and ending with a letter or digit",
        required=True,
    ),
    Key(
        "resource_size",
        Kind.CHOICE,
        "batch sizes and concurrency profile",
        default=DEFAULT_RESOURCE_SIZE,
        choices=tuple(RESOURCE_PROFILES),
    ),
    Key("description", Kind.STRING, "free text"),
    Key("job", Kind.BOOLEAN, "run once to the end of bounded sources", default=False),
    Key("schedule", Kind.STRING, "cron expression re-running the job; needs job: true"),
    Key("sources", Kind.MAPPING, "where rows come from, by node name", required=True),
    Key("transforms", Kind.MAPPING, "SQL over sources and transforms, by node name"),
    Key("sinks", Kind.MAPPING, "where rows go, by node name", required=True),
)

SOURCE_TYPES: tuple[str, ...] = ("dataset",)
# Turbo source types that chaintap does not read yet.
UNSUPPORTED_SOURCE_TYPES: tuple[str, ...] = ("kafka",)

SOURCE = _table(
    Key("type", Kind.CHOICE, "source type", required=True, choices=SOURCE_TYPES),
    Key("dataset_name", Kind.STRING, "<chain>.<dataset>", required=True),
    Key("version", Kind.STRING, "dataset version (MAJOR.MINOR.PATCH)", default=None),
    Key("start_block", Kind.INTEGER, "first block (or slot) read", minimum=0),
    Key("end_block", Kind.INTEGER, "last block (or slot) read, inclusive", minimum=0),
    Key(
        "start_at",
        Kind.CHOICE,
        "where to start without start_block (EVM only)",
        choices=("earliest", "latest"),
    ),
    Key("block_ranges", Kind.BLOCK_RANGES, "inclusive [start, end] windows to read"),
    Key("filter", Kind.STRING, "SQL predicate on the dataset's rows"),
    Key("rpc_url", Kind.STRING, "chaintap: JSON-RPC endpoint of the chain"),
    Key(
        "confirmations",
        Kind.INTEGER,
        "chaintap: blocks behind the head treated as final",
        minimum=0,
    ),
    Key("in_order", Kind.BOOLEAN, "chaintap: deliver batches strictly in order"),
    Key("archive", Kind.STRING, "chaintap: where historical blocks are read from"),
    Key("poll_interval", Kind.DURATION, "chaintap: wait between head polls"),
    Key(
        "wait_for_head",
        Kind.BOOLEAN,
        "chaintap: an end past the chain head waits for it instead of failing",
    ),
    Key(
        "rpc_max_attempts",
        Kind.INTEGER,
        "chaintap: JSON-RPC attempts before a call fails",
        minimum=1,
    ),
    # Options the Solana source reads; its own checks repeat these choices.
    Key(
        "encoding",
        Kind.CHOICE,
        "chaintap (Solana): getBlock encoding",
        choices=("json", "jsonParsed"),
    ),
    Key(
        "commitment",
        Kind.CHOICE,
        "chaintap (Solana): commitment level read",
        choices=("finalized", "confirmed"),
    ),
    Key(
        "head_poll_interval_s",
        Kind.DURATION,
        "chaintap (Solana): wait between head polls",
    ),
)

TRANSFORM_TYPES: dict[str, dict[str, Key]] = {
    "sql": _table(
        Key("type", Kind.CHOICE, "transform type", required=True, choices=("sql",)),
        Key(
            "sql", Kind.STRING, "one SELECT over source/transform names", required=True
        ),
        Key("primary_key", Kind.STRING, "column(s) unique per row", required=True),
    ),
}

# Turbo transform types that chaintap does not run yet.
UNSUPPORTED_TRANSFORM_TYPES: tuple[str, ...] = (
    "script",
    "handler",
    "dynamic_table",
    "throttle",
)

_FROM = Key("from", Kind.STRING, "the source or transform read", required=True)

SINK_TYPES: dict[str, dict[str, Key]] = {
    # TODO: Turbo's postgres sink also takes `on_conflict` (update | nothing); a file
    # using it is rejected as an unknown key until the postgres sink implements it.
    "postgres": _table(
        Key("type", Kind.STRING, "sink type", required=True),
        _FROM,
        Key("schema", Kind.STRING, "PostgreSQL schema", default="public"),
        Key("table", Kind.STRING, "table, created when missing", required=True),
        Key("primary_key", Kind.STRING, "column(s) to upsert on"),
        Key("secret_name", Kind.STRING, "secret holding the DSN", required=True),
    ),
    "file": _table(
        Key("type", Kind.STRING, "sink type", required=True),
        _FROM,
        Key("path", Kind.STRING, "chaintap: output directory", required=True),
        Key(
            "format",
            Kind.CHOICE,
            "chaintap: file format",
            default="parquet",
            choices=("parquet", "jsonl", "csv"),
        ),
        Key("primary_key", Kind.STRING, "column(s) unique per row"),
    ),
    "print": _table(
        Key("type", Kind.STRING, "sink type", required=True),
        _FROM,
        Key(
            "limit",
            Kind.INTEGER,
            "rows printed in all at most (the rest are counted)",
            minimum=1,
        ),
    ),
    "blackhole": _table(
        Key("type", Kind.STRING, "sink type", required=True),
        _FROM,
    ),
}

# Turbo sink types that chaintap does not write to yet.
UNSUPPORTED_SINK_TYPES: tuple[str, ...] = (
    "clickhouse",
    "kafka",
    "webhook",
    "s3",
    "s3_sink",
    "mysql",
    "mysql_sink",
    "sqs",
    "sqs_sink",
    "s2",
    "s2_sink",
    "postgres_aggregate",
)
