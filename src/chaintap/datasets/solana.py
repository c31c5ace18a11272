"""Arrow schemas of the Solana datasets.

Conventions: `block_slot` / `slot` is the slot number (int64); hashes, signatures,
addresses and instruction data are base58 strings; `block_timestamp` is Unix
seconds; lamport and token amounts are u256 so raw integers stay exact; list-valued
columns (accounts, log messages) are Arrow lists of strings; `balance_changes` is a
list of structs. `id` is deterministic and unique per row.
"""

from __future__ import annotations

import pyarrow as pa

from chaintap.u256 import U256_TYPE

_S = pa.string()
_I = pa.int64()

BALANCE_CHANGE = pa.struct(
    [
        pa.field("account", _S),
        pa.field("before", U256_TYPE),
        pa.field("after", U256_TYPE),
    ]
)

BLOCKS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("slot", _I, nullable=False),
        pa.field("parent_slot", _I),
        pa.field("hash", _S),
        pa.field("previous_block_hash", _S),
        pa.field("timestamp", _I),
        pa.field("height", _I),
        pa.field("transaction_count", _I),
        pa.field("leader", _S),
        pa.field("skipped", pa.bool_(), nullable=False),
    ]
)

TRANSACTIONS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("index", _I, nullable=False),
        pa.field("block_slot", _I, nullable=False),
        pa.field("block_hash", _S),
        pa.field("block_timestamp", _I),
        pa.field("signature", _S, nullable=False),
        pa.field("fee", U256_TYPE),
        pa.field("status", _I),
        pa.field("err", _S),
        pa.field("accounts", pa.list_(_S)),
        pa.field("log_messages", pa.list_(_S)),
        pa.field("compute_units_consumed", _I),
        pa.field("balance_changes", pa.list_(BALANCE_CHANGE)),
    ]
)

INSTRUCTIONS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("tx_signature", _S, nullable=False),
        pa.field("index", _I, nullable=False),
        pa.field("parent_index", _I),
        pa.field("block_slot", _I, nullable=False),
        pa.field("block_timestamp", _I),
        pa.field("program_id", _S),
        pa.field("data", _S),
        pa.field("accounts", pa.list_(_S)),
        pa.field("status", _I),
    ]
)

TOKEN_TRANSFERS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("block_slot", _I, nullable=False),
        pa.field("block_timestamp", _I),
        pa.field("signature", _S, nullable=False),
        pa.field("token_mint_address", _S),
        pa.field("from_token_account", _S),
        pa.field("to_token_account", _S),
        pa.field("from_owner", _S),
        pa.field("to_owner", _S),
        pa.field("amount", U256_TYPE, nullable=False),
        pa.field("decimals", _I),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "blocks": BLOCKS,
    "transactions": TRANSACTIONS,
    "instructions": INSTRUCTIONS,
    "token_transfers": TOKEN_TRANSFERS,
}
