"""Turn the columns of one archive file back into its dataset's Arrow schema.

A `FileConverter` is planned once per file from the file's Parquet schema, so a
file that cannot give the dataset fails before any of its rows is read:

- a column with the dataset's name is used (cryo's names for the same thing are
  tried next, e.g. `contract_address` for `address`, and for u256 values the
  `_binary` / `_string` variants cryo writes);
- types are converted exactly: base-10 (or 0x hex) strings and unsigned integers
  become u256 through Python `int` or byte arithmetic, never a float (a float
  column where a u256 is expected is refused); binary hashes, addresses and byte
  strings become lowercase `0x` hex strings; narrower integers widen to int64;
- `id` and, for `raw_logs`, `topics` are rebuilt from their parts when absent
  (`<transaction_hash>_<log_index>`; `topic0..topic3` joined by commas);
- a missing column that the dataset allows to be null becomes null; a missing
  required column is a `ConfigError` naming the file and the column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chaintap import u256
from chaintap.errors import ConfigError, TerminalError

Convert = Callable[[pa.Array], pa.Array]

# Other names (cryo's) under which a dataset's column may be stored. Only the
# raw_logs mapping is exercised by tests (cryo-shaped files built from real logs);
# the blocks / transactions / erc20_transfers names follow cryo's schemas but no
# real cryo output was at hand, so a mismatch there fails as a missing column.
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "raw_logs": {"address": ("contract_address",)},
    "blocks": {
        "number": ("block_number",),
        "hash": ("block_hash",),
        "miner": ("author",),
    },
    "raw_transactions": {
        "hash": ("transaction_hash",),
        "gas": ("gas_limit",),
        "receipt_gas_used": ("gas_used",),
        "receipt_status": ("success",),
    },
    "erc20_transfers": {
        "address": ("erc20",),
        "sender": ("from_address",),
        "recipient": ("to_address",),
        "amount": ("value",),
    },
}
# cryo stores one u256 in up to three columns; exact ones are preferred.
_U256_SUFFIXES = ("", "_binary", "_string", "_str")
_TOPIC_COLUMNS = ("topic0", "topic1", "topic2", "topic3")
_LOG_DATASETS = ("raw_logs", "erc20_transfers")
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class _Column:
    """How one output column is made: read `source` and `convert`, or derive it."""

    field: pa.Field
    source: str | None = None
    convert: Convert | None = None
    derive: str | None = None  # "log_id", "hash_id", "topics" or "null"


class FileConverter:
    """Reads the columns `columns` of one file and returns rows in `schema`."""

    def __init__(
        self, path: Path, file_schema: pa.Schema, schema: pa.Schema, dataset: str
    ) -> None:
        self.path = path
        self.schema = schema
        self.dataset = dataset
        self._file_types = {f.name: f.type for f in file_schema}
        self._plan = [self._plan_column(field) for field in schema]

        needed: list[str] = [c.source for c in self._plan if c.source is not None]
        if any(c.derive == "topics" for c in self._plan):
            needed += [t for t in _TOPIC_COLUMNS if t in self._file_types]
        self.columns = list(dict.fromkeys(needed))

    def source_of(self, column: str) -> str | None:
        """The file column that gives the dataset column `column`, if one does."""
        for item in self._plan:
            if item.field.name == column:
                return item.source
        return None

    def convert(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """One record batch read with `columns`, as a batch of `schema`.

        Raises `TerminalError` naming file and column when a value does not fit
        (an integer too large for int64, a string that is not a number).
        """
        out: dict[str, pa.Array] = {}
        for item in self._plan:
            if item.source is None or item.convert is None:
                continue
            try:
                out[item.field.name] = item.convert(batch.column(item.source))
            except (pa.ArrowInvalid, ValueError, OverflowError) as err:
                raise TerminalError(
                    f"archive file {self.path}: column {item.source!r} holds a value "
                    f"that is not a valid {item.field.type} ({err}); re-write the file"
                ) from err

        for item in self._plan:
            if item.derive is not None:
                out[item.field.name] = self._derive(item, batch, out)
        return pa.RecordBatch.from_arrays(
            [out[f.name] for f in self.schema], schema=self.schema
        )

    def _derive(
        self, item: _Column, batch: pa.RecordBatch, done: dict[str, pa.Array]
    ) -> pa.Array:
        if item.derive == "log_id":
            index = pc.cast(done["log_index"], pa.string())
            return pc.binary_join_element_wise(done["transaction_hash"], index, "_")
        if item.derive == "hash_id":
            return done["hash"]
        if item.derive == "topics":
            names = [t for t in _TOPIC_COLUMNS if t in batch.schema.names]
            parts = [hex_strings(batch.column(t)).fill_null("") for t in names]
            # Topics fill slots from topic0, so absent ones only leave trailing
            # commas; a log without topics gets "" as the RPC source gives it.
            # (null_handling="skip" is not used: pyarrow 26 drops all-null rows.)
            joined = pc.binary_join_element_wise(*parts, ",")
            return pc.utf8_rtrim(joined, characters=",")
        return pa.nulls(batch.num_rows, item.field.type)

    def _plan_column(self, field: pa.Field) -> _Column:
        """1. a stored column; 2. one rebuilt from parts; 3. null if allowed."""
        for name in self._candidates(field):
            if name in self._file_types:
                convert = self._converter(field, name, self._file_types[name])
                return _Column(field, source=name, convert=convert)

        derive = self._derivation(field.name)
        if derive is not None:
            return _Column(field, derive=derive)
        if field.nullable:
            return _Column(field, derive="null")
        raise ConfigError(
            f"archive file {self.path} has no column {field.name!r}, which "
            f"{self.dataset} requires; re-export the file with that column"
        )

    def _candidates(self, field: pa.Field) -> list[str]:
        names = [field.name, *ALIASES.get(self.dataset, {}).get(field.name, ())]
        if u256.is_u256(field.type):
            return [n + suffix for suffix in _U256_SUFFIXES for n in names]
        return names

    def _derivation(self, column: str) -> str | None:
        if column == "id" and self.dataset in _LOG_DATASETS:
            return "log_id"
        if column == "id" and "hash" in self.schema.names:
            return "hash_id"
        if column == "topics" and "topic0" in self._file_types:
            return "topics"
        return None

    def _converter(self, field: pa.Field, name: str, stored: pa.DataType) -> Convert:
        convert = conversion(stored, field.type)
        if convert is None:
            raise ConfigError(
                f"archive file {self.path}: column {name!r} is {stored}, which "
                f"cannot be read exactly as {field.type} for {self.dataset}."
                f"{field.name}; re-export it as "
                + ("a base-10 string or 32 bytes" if u256.is_u256(field.type) else "")
                + f"{field.type}"
            )
        return convert


def conversion(stored: pa.DataType, wanted: pa.DataType) -> Convert | None:
    """An exact conversion from `stored` to `wanted`, None when there is none."""
    if stored == wanted:
        return _same
    if u256.is_u256(wanted):
        return _to_u256(stored)
    if pa.types.is_string(wanted):
        if pa.types.is_large_string(stored):
            return _cast_to(wanted)
        if _is_binary(stored):
            return hex_strings
        return None
    if pa.types.is_integer(wanted) and (
        pa.types.is_integer(stored)
        or pa.types.is_boolean(stored)
        or pa.types.is_string(stored)
        or pa.types.is_large_string(stored)
    ):
        return _cast_to(wanted)
    if pa.types.is_boolean(wanted) and pa.types.is_integer(stored):
        return _cast_to(wanted)
    # Nested and other types are only read when stored exactly as the dataset has
    # them: a cast of a struct holding u256 strings would misread its bytes.
    return None


def _same(array: pa.Array) -> pa.Array:
    return array


def _cast_to(wanted: pa.DataType) -> Convert:
    def cast(array: pa.Array) -> pa.Array:
        return pc.cast(array, wanted, safe=True)

    return cast


def _is_binary(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_fixed_size_binary(dtype)
    )


def _to_u256(stored: pa.DataType) -> Convert | None:
    if pa.types.is_string(stored) or pa.types.is_large_string(stored):
        return _u256_from_text
    if _is_binary(stored):
        return _u256_from_bytes
    if pa.types.is_unsigned_integer(stored) or pa.types.is_signed_integer(stored):
        return _u256_from_integers
    if pa.types.is_decimal(stored) and stored.scale == 0:
        return _u256_from_decimals
    return None  # floats above all: they have already lost digits


def _u256_from_text(array: pa.Array) -> pa.Array:
    # One Python int per value: exact, ~1 µs each. A vectorised base-10 parser
    # would make u256-heavy archives (erc20_transfers) several times faster.
    return u256.array(None if v is None else u256.parse(v) for v in array.to_pylist())


def _u256_from_bytes(array: pa.Array) -> pa.Array:
    values = array.to_pylist()
    if any(v is not None and len(v) > u256.U256_BYTES for v in values):
        raise ValueError("a value is longer than 32 bytes")
    return pa.array(
        [None if v is None else v.rjust(u256.U256_BYTES, b"\0") for v in values],
        type=u256.U256_TYPE,
    )


def _u256_from_integers(array: pa.Array) -> pa.Array:
    if pa.types.is_signed_integer(array.type) and pc.any(pc.less(array, 0)).as_py():
        raise ValueError("a value is negative")
    big_endian = np.zeros((len(array), u256.U256_BYTES), dtype=np.uint8)
    numbers = array.fill_null(0).to_numpy(zero_copy_only=False).astype(">u8")
    big_endian[:, -8:] = numbers.view(np.uint8).reshape(-1, 8)
    flat = pa.py_buffer(big_endian.tobytes())
    result = pa.Array.from_buffers(u256.U256_TYPE, len(array), [None, flat])
    return _keep_nulls(array, result)


def _u256_from_decimals(array: pa.Array) -> pa.Array:
    return u256.array(None if v is None else int(v) for v in array.to_pylist())


def _keep_nulls(original: pa.Array, result: pa.Array) -> pa.Array:
    if original.null_count == 0:
        return result
    return pc.if_else(pc.is_valid(original), result, pa.scalar(None, result.type))


def hex_strings(array: pa.Array) -> pa.Array:
    """Lowercase `0x` hex strings from a binary array (nulls stay null).

    Vectorised with numpy: the bytes are expanded to hex digits in one pass, then
    laid out behind a `0x` per value, so a column converts at memory speed.
    """
    if isinstance(array, pa.ChunkedArray):
        return pa.concat_arrays([hex_strings(c) for c in array.chunks])
    count = len(array)
    data, offsets = _bytes_and_offsets(array)

    # Value i of the output starts at 2*offsets[i] + 2*i: its own digits are
    # twice its bytes and every earlier value added a two-character prefix.
    out_offsets = offsets * 2 + 2 * np.arange(count + 1, dtype=np.int64)
    digits = np.empty(2 * len(data), dtype=np.uint8)
    digits[0::2] = _HEX_DIGITS[data >> 4]
    digits[1::2] = _HEX_DIGITS[data & 0x0F]

    out = np.empty(int(out_offsets[-1]), dtype=np.uint8)
    prefix = np.zeros(len(out), dtype=bool)
    starts = out_offsets[:-1]
    prefix[starts] = True
    prefix[starts + 1] = True
    out[prefix] = np.tile(np.frombuffer(b"0x", dtype=np.uint8), count)
    out[~prefix] = digits

    large = out_offsets[-1] > np.iinfo(np.int32).max
    kind = pa.large_string() if large else pa.string()
    width = np.int64 if large else np.int32
    result = pa.Array.from_buffers(
        kind,
        count,
        [None, pa.py_buffer(out_offsets.astype(width)), pa.py_buffer(out)],
    )
    return _keep_nulls(array, result)


def _bytes_and_offsets(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The value bytes of a binary array and int64 offsets into them from 0."""
    count, start = len(array), array.offset
    buffers = array.buffers()
    if pa.types.is_fixed_size_binary(array.type):
        width = array.type.byte_width
        raw = np.frombuffer(buffers[1], dtype=np.uint8) if buffers[1] else np.empty(0)
        data = raw[start * width : (start + count) * width].astype(np.uint8)
        return data, np.arange(count + 1, dtype=np.int64) * width

    width = np.int64 if pa.types.is_large_binary(array.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width)[start : start + count + 1]
    offsets = offsets.astype(np.int64)
    raw = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.empty(0, dtype=np.uint8)
    )
    return raw[offsets[0] : offsets[-1]], offsets - offsets[0]
