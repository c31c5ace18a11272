"""Every chaintap SQL function, registered on a DataFusion session in one call.

Signatures are exact; DataFusion casts integers and `list<utf8>` to text where a
function takes text, but never casts to or from u256 (`fixed_size_binary(32)`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from datafusion import SessionContext, udf

from chaintap.transforms.functions import evm_decode, hashing
from chaintap.transforms.functions import u256 as u256_functions
from chaintap.u256 import U256_TYPE

# The decoder answers to Goldsky's name and to two spellings people reach for.
LOG_DECODE_NAMES: tuple[str, ...] = (
    "evm_log_decode",
    "_gs_log_decode",
    "evm_decode_log",
)

_S = pa.string()


def keccak256_array(values: pa.StringArray) -> pa.StringArray:
    """UDF body of `_gs_keccak256` (see `hashing.keccak256_text`)."""
    return pa.array(
        [None if v is None else hashing.keccak256_text(v) for v in values.to_pylist()],
        type=_S,
    )


def _specs() -> list[tuple[str, Callable[..., Any], list[pa.DataType], pa.DataType]]:
    """(name, body, argument types, result type) of every function."""
    specs: list[tuple[str, Callable[..., Any], list[pa.DataType], pa.DataType]] = [
        (name, evm_decode.evm_log_decode, [_S, _S, _S], evm_decode.DECODED_TYPE)
        for name in LOG_DECODE_NAMES
    ]
    specs.append(("_gs_keccak256", keccak256_array, [_S], _S))
    specs.append(("to_u256", u256_functions.to_u256, [_S], U256_TYPE))
    specs.append(("u256_to_string", u256_functions.u256_to_string, [U256_TYPE], _S))
    for name, body in u256_functions.BINARY_OPERATIONS.items():
        specs.append((name, body, [U256_TYPE, U256_TYPE], U256_TYPE))
    return specs


FUNCTION_NAMES: tuple[str, ...] = tuple(name for name, *_ in _specs())


def register_functions(ctx: SessionContext) -> None:
    """Register all chaintap functions (immutable: same input, same output) on `ctx`."""
    for name, body, arguments, result in _specs():
        ctx.register_udf(udf(body, arguments, result, "immutable", name))
