"""Test-side references for the transform tests, written without chaintap's decoder.

`encode` ABI-encodes values by the specification's head/tail rules and `expected_text`
renders them as the documented `event_params` text, so decoding tests compare the
library against an independent computation. Types are small tuples:
`("uint", 256)`, `("int", 8)`, `("address",)`, `("bool",)`, `("bytesN", 4)`,
`("bytes",)`, `("string",)`, `("array", item, None | k)`, `("tuple", [items])`.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from Crypto.Hash import keccak

from chaintap.datasets.evm import RAW_LOGS
from support.evm_replay import load_ethereum_blocks

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
APPROVAL_TOPIC = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"

ERC20_TRANSFER = {
    "anonymous": False,
    "inputs": [
        {"indexed": True, "name": "from", "type": "address"},
        {"indexed": True, "name": "to", "type": "address"},
        {"indexed": False, "name": "value", "type": "uint256"},
    ],
    "name": "Transfer",
    "type": "event",
}
ERC20_APPROVAL = {
    "anonymous": False,
    "inputs": [
        {"indexed": True, "name": "owner", "type": "address"},
        {"indexed": True, "name": "spender", "type": "address"},
        {"indexed": False, "name": "value", "type": "uint256"},
    ],
    "name": "Approval",
    "type": "event",
}
ERC721_TRANSFER = {
    "anonymous": False,
    "inputs": [
        {"indexed": True, "name": "from", "type": "address"},
        {"indexed": True, "name": "to", "type": "address"},
        {"indexed": True, "name": "tokenId", "type": "uint256"},
    ],
    "name": "Transfer",
    "type": "event",
}
ERC20_ABI = json.dumps([ERC20_TRANSFER])

AbiT = tuple[Any, ...]


def keccak_hex(data: bytes) -> str:
    return "0x" + keccak.new(data=data, digest_bits=256).hexdigest()


def mainnet_logs() -> list[dict[str, Any]]:
    """Every log of the recorded blocks, with its block's timestamp added."""
    logs = []
    for _number, recorded in sorted(load_ethereum_blocks().items()):
        stamp = int(recorded["block"]["timestamp"], 16)
        for receipt in recorded["receipts"] or []:
            for log in receipt["logs"]:
                logs.append({**log, "timestamp": stamp})
    return logs


def raw_logs_table(logs: list[dict[str, Any]]) -> pa.Table:
    """`raw_logs` rows as the dataset defines them (topics comma-separated)."""
    rows = [
        {
            "id": f"{log['transactionHash']}_{int(log['logIndex'], 16)}",
            "block_number": int(log["blockNumber"], 16),
            "block_hash": log["blockHash"],
            "transaction_hash": log["transactionHash"],
            "transaction_index": int(log["transactionIndex"], 16),
            "log_index": int(log["logIndex"], 16),
            "address": log["address"],
            "data": log["data"],
            "topics": ",".join(log["topics"]),
            "block_timestamp": log["timestamp"],
        }
        for log in logs
    ]
    return pa.Table.from_pylist(rows, schema=RAW_LOGS)


def is_dynamic(t: AbiT) -> bool:
    if t[0] in ("bytes", "string"):
        return True
    if t[0] == "array":
        return t[2] is None or is_dynamic(t[1])
    if t[0] == "tuple":
        return any(is_dynamic(c) for c in t[1])
    return False


def _pad_right(raw: bytes) -> bytes:
    return raw + bytes(-len(raw) % 32)


def encode(t: AbiT, value: Any) -> bytes:
    """The ABI encoding of one value (for a dynamic type: its tail part)."""
    kind = t[0]
    if kind == "uint":
        return int(value).to_bytes(32, "big")
    if kind == "int":
        return (int(value) % (1 << 256)).to_bytes(32, "big")
    if kind == "address":
        return bytes(12) + bytes.fromhex(value[2:])
    if kind == "bool":
        return (1 if value else 0).to_bytes(32, "big")
    if kind == "bytesN":
        return _pad_right(value)
    if kind in ("bytes", "string"):
        raw = value.encode("utf-8") if kind == "string" else value
        return len(raw).to_bytes(32, "big") + _pad_right(raw)
    if kind == "array":
        body = encode_tuple([t[1]] * len(value), value)
        return body if t[2] is not None else len(value).to_bytes(32, "big") + body
    return encode_tuple(t[1], value)


def encode_tuple(types: list[AbiT], values: list[Any]) -> bytes:
    """Heads in order (offsets for dynamic members), then the tails."""
    head_size = sum(
        32 if is_dynamic(t) else len(encode(t, v))
        for t, v in zip(types, values, strict=True)
    )
    heads, tails = [], b""
    for t, v in zip(types, values, strict=True):
        if is_dynamic(t):
            heads.append((head_size + len(tails)).to_bytes(32, "big"))
            tails += encode(t, v)
        else:
            heads.append(encode(t, v))
    return b"".join(heads) + tails


def _json_of(t: AbiT, value: Any) -> Any:
    if t[0] == "array":
        return [_json_of(t[1], v) for v in value]
    if t[0] == "tuple":
        return [_json_of(c, v) for c, v in zip(t[1], value, strict=True)]
    if t[0] == "bool":
        return bool(value)
    return expected_text(t, value)


def expected_text(t: AbiT, value: Any) -> str:
    """The documented `event_params` text of a value."""
    kind = t[0]
    if kind in ("uint", "int"):
        return str(value)
    if kind == "address":
        return value.lower()
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("bytesN", "bytes"):
        return "0x" + value.hex()
    if kind == "string":
        return value
    return json.dumps(_json_of(t, value), separators=(",", ":"))


def type_name(t: AbiT) -> str:
    """The ABI JSON `type` string of a test type (tuples spelled `tuple`)."""
    kind = t[0]
    if kind in ("uint", "int"):
        return f"{kind}{t[1]}"
    if kind == "bytesN":
        return f"bytes{t[1]}"
    if kind == "array":
        return type_name(t[1]) + (f"[{t[2]}]" if t[2] is not None else "[]")
    return kind


def canonical(t: AbiT) -> str:
    """The type as spelled in a canonical event signature."""
    if t[0] == "tuple":
        return "(" + ",".join(canonical(c) for c in t[1]) + ")"
    if t[0] == "array":
        return canonical(t[1]) + (f"[{t[2]}]" if t[2] is not None else "[]")
    return type_name(t)


def abi_input(name: str, t: AbiT, indexed: bool = False) -> dict[str, Any]:
    """One ABI JSON input entry (with `components` for tuples, also in arrays)."""
    entry: dict[str, Any] = {"name": name, "type": type_name(t), "indexed": indexed}
    inner = t
    while inner[0] == "array":
        inner = inner[1]
    if inner[0] == "tuple":
        entry["components"] = [abi_input(f"c{i}", c) for i, c in enumerate(inner[1])]
    return entry
