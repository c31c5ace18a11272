"""Arrow schemas of the EVM datasets.

Conventions shared by every EVM dataset:
- hashes, addresses and byte strings are lowercase `0x`-prefixed hex strings;
- integers that can exceed 64 bits (wei values, difficulty, fee per gas) are u256
  (see `chaintap.u256`); block numbers, indexes and gas counts are int64;
- `block_timestamp` / `timestamp` are Unix seconds (int64);
- `id` is deterministic and unique per row: the block hash for blocks, the
  transaction hash for transactions, `<transaction_hash>_<log_index>` for logs and
  log-derived rows.
"""

from __future__ import annotations

import pyarrow as pa

from chaintap.u256 import U256_TYPE

_S = pa.string()
_I = pa.int64()

BLOCKS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("number", _I, nullable=False),
        pa.field("hash", _S, nullable=False),
        pa.field("parent_hash", _S, nullable=False),
        pa.field("miner", _S),
        pa.field("gas_limit", _I),
        pa.field("gas_used", _I),
        pa.field("timestamp", _I),
        pa.field("transaction_count", _I),
        pa.field("base_fee_per_gas", U256_TYPE),
        pa.field("difficulty", U256_TYPE),
        pa.field("nonce", _S),
        pa.field("size", _I),
        pa.field("extra_data", _S),
        pa.field("state_root", _S),
        pa.field("transactions_root", _S),
        pa.field("receipts_root", _S),
        pa.field("withdrawals_root", _S),
        pa.field("blob_gas_used", _I),
        pa.field("excess_blob_gas", _I),
    ]
)

RAW_TRANSACTIONS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("hash", _S, nullable=False),
        pa.field("nonce", _I),
        pa.field("block_hash", _S, nullable=False),
        pa.field("block_number", _I, nullable=False),
        pa.field("transaction_index", _I, nullable=False),
        pa.field("from_address", _S),
        pa.field("to_address", _S),
        pa.field("value", U256_TYPE),
        pa.field("gas", _I),
        pa.field("gas_price", U256_TYPE),
        pa.field("input", _S),
        pa.field("transaction_type", _I),
        pa.field("max_fee_per_gas", U256_TYPE),
        pa.field("max_priority_fee_per_gas", U256_TYPE),
        pa.field("block_timestamp", _I),
        pa.field("receipt_cumulative_gas_used", _I),
        pa.field("receipt_gas_used", _I),
        pa.field("receipt_contract_address", _S),
        pa.field("receipt_status", _I),
        pa.field("receipt_effective_gas_price", U256_TYPE),
    ]
)

RAW_LOGS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("block_number", _I, nullable=False),
        pa.field("block_hash", _S, nullable=False),
        pa.field("transaction_hash", _S, nullable=False),
        pa.field("transaction_index", _I, nullable=False),
        pa.field("log_index", _I, nullable=False),
        pa.field("address", _S, nullable=False),
        pa.field("data", _S),
        # Comma-separated topic hashes, as Turbo's raw_logs carries them.
        pa.field("topics", _S),
        pa.field("block_timestamp", _I),
    ]
)

ERC20_TRANSFERS = pa.schema(
    [
        pa.field("id", _S, nullable=False),
        pa.field("sender", _S, nullable=False),
        pa.field("recipient", _S, nullable=False),
        pa.field("amount", U256_TYPE, nullable=False),
        pa.field("address", _S, nullable=False),
        pa.field("block_number", _I, nullable=False),
        pa.field("block_timestamp", _I),
        pa.field("block_hash", _S, nullable=False),
        pa.field("transaction_hash", _S, nullable=False),
        pa.field("transaction_index", _I, nullable=False),
        pa.field("log_index", _I, nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "blocks": BLOCKS,
    "raw_transactions": RAW_TRANSACTIONS,
    "raw_logs": RAW_LOGS,
    "erc20_transfers": ERC20_TRANSFERS,
}
