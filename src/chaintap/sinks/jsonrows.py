"""Arrow rows as JSON objects, for the jsonl file format and the print sink.

u256 columns become base-10 strings (JSON numbers would lose precision in most
readers), bytes become 0x-prefixed hex, times ISO 8601 strings. Non-finite floats
are written as JavaScript's NaN / Infinity, as Python's `json` does.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from chaintap.u256 import stringify_table


def json_lines(table: pa.Table) -> Iterator[str]:
    """One compact JSON object per row, in column order, without a newline."""
    for batch in stringify_table(table).to_batches():
        for row in batch.to_pylist():
            yield dumps(row)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, dt.timedelta)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
