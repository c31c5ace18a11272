"""Expected Solana dataset rows, computed straight from raw `getBlock` JSON.

Written apart from `chaintap.sources.solana` and sharing no code with it: plain
loops over the JSON, `base58` + `struct` for instruction data. Values are plain
Python: u256 columns as ints, `err` as the decoded JSON value, balance changes as
`(account, before, after)` tuples. The rules are the documented contract of the
datasets (see `chaintap.sources.solana.extract` and `.tokens`).
"""

from __future__ import annotations

import struct
from typing import Any

import base58

TOKEN_PROGRAMS = {
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PQ6FvwNQSBpQ7o8",
}


def keys_of(tx: dict[str, Any]) -> list[str]:
    listed = tx["transaction"]["message"]["accountKeys"]
    if listed and isinstance(listed[0], dict):
        return [entry["pubkey"] for entry in listed]
    loaded = (tx.get("meta") or {}).get("loadedAddresses") or {}
    return listed + loaded.get("writable", []) + loaded.get("readonly", [])


def block_row(slot: int, block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(slot),
        "slot": slot,
        "parent_slot": block["parentSlot"],
        "hash": block["blockhash"],
        "previous_block_hash": block["previousBlockhash"],
        "timestamp": block["blockTime"],
        "height": block["blockHeight"],
        "transaction_count": len(block["transactions"]),
        "leader": None,
        "skipped": False,
    }


def transaction_rows(slot: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for position, tx in enumerate(block["transactions"]):
        meta = tx["meta"]
        keys = keys_of(tx)
        signature = tx["transaction"]["signatures"][0]
        changes = []
        for i in range(len(meta["preBalances"])):
            changes.append((keys[i], meta["preBalances"][i], meta["postBalances"][i]))
        rows.append(
            {
                "id": signature,
                "index": position,
                "block_slot": slot,
                "block_hash": block["blockhash"],
                "block_timestamp": block["blockTime"],
                "signature": signature,
                "fee": meta["fee"],
                "status": 1 if meta["err"] is None else 0,
                "err": meta["err"],
                "accounts": keys,
                "log_messages": meta["logMessages"],
                "compute_units_consumed": meta.get("computeUnitsConsumed"),
                "balance_changes": changes,
            }
        )
    return rows


def _instruction_list(tx: dict[str, Any]) -> list[tuple[int, int | None, dict]]:
    """(index, parent index, raw instruction) in execution order."""
    inner: dict[int, list[dict[str, Any]]] = {}
    for group in tx["meta"].get("innerInstructions") or []:
        inner.setdefault(group["index"], []).extend(group["instructions"])
    out: list[tuple[int, int | None, dict]] = []
    for i, top in enumerate(tx["transaction"]["message"]["instructions"]):
        out.append((i, None, top))
        for j, child in enumerate(inner.get(i, [])):
            out.append((j, i, child))
    return out


def instruction_rows(slot: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for tx in block["transactions"]:
        keys = keys_of(tx)
        signature = tx["transaction"]["signatures"][0]
        for index, parent, raw in _instruction_list(tx):
            if "programIdIndex" in raw:
                program = keys[raw["programIdIndex"]]
                accounts = [keys[a] for a in raw["accounts"]]
            else:
                program = raw["programId"]
                accounts = raw.get("accounts")
            label = str(index) if parent is None else f"{parent}.{index}"
            rows.append(
                {
                    "id": f"{signature}_{label}",
                    "tx_signature": signature,
                    "index": index,
                    "parent_index": parent,
                    "block_slot": slot,
                    "block_timestamp": block["blockTime"],
                    "program_id": program,
                    "data": raw.get("data"),
                    "accounts": accounts,
                    "status": 1 if tx["meta"]["err"] is None else 0,
                }
            )
    return rows


def transfer_rows(slot: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for tx in block["transactions"]:
        meta = tx["meta"]
        if meta["err"] is not None:
            continue
        keys = keys_of(tx)
        signature = tx["transaction"]["signatures"][0]
        known = _token_accounts(tx, keys)

        for index, parent, raw in _instruction_list(tx):
            program = (
                keys[raw["programIdIndex"]]
                if "programIdIndex" in raw
                else raw["programId"]
            )
            if program not in TOKEN_PROGRAMS:
                continue
            found = _parse_transfer(raw, keys)
            if found is None:
                continue
            source, destination, amount, mint, decimals = found
            source_info = known.get(source, {})
            destination_info = known.get(destination, {})
            mint = mint or source_info.get("mint") or destination_info.get("mint")
            if decimals is None:
                for info in (source_info, destination_info):
                    if decimals is None and info.get("mint") == mint:
                        decimals = info.get("decimals")
            label = str(index) if parent is None else f"{parent}.{index}"
            rows.append(
                {
                    "id": f"{signature}_{label}",
                    "block_slot": slot,
                    "block_timestamp": block["blockTime"],
                    "signature": signature,
                    "token_mint_address": mint,
                    "from_token_account": source,
                    "to_token_account": destination,
                    "from_owner": source_info.get("owner"),
                    "to_owner": destination_info.get("owner"),
                    "amount": amount,
                    "decimals": decimals,
                }
            )
    return rows


def _token_accounts(tx: dict[str, Any], keys: list[str]) -> dict[str, dict[str, Any]]:
    """mint/owner/decimals per token account: pre balances, post balances, then
    parsed initializeAccount* instructions; earlier sources win."""
    known: dict[str, dict[str, Any]] = {}
    meta = tx["meta"]
    for balance in (meta.get("preTokenBalances") or []) + (
        meta.get("postTokenBalances") or []
    ):
        info = known.setdefault(keys[balance["accountIndex"]], {})
        info.setdefault("mint", balance["mint"])
        if balance.get("owner") is not None:
            info.setdefault("owner", balance["owner"])
        info.setdefault("decimals", balance["uiTokenAmount"]["decimals"])
    for _, _, raw in _instruction_list(tx):
        parsed = raw.get("parsed")
        if isinstance(parsed, dict) and parsed["type"].startswith("initializeAccount"):
            info = known.setdefault(parsed["info"]["account"], {})
            info.setdefault("mint", parsed["info"]["mint"])
            info.setdefault("owner", parsed["info"]["owner"])
    return known


def _parse_transfer(
    raw: dict[str, Any], keys: list[str]
) -> tuple[str, str, int, str | None, int | None] | None:
    """(source, destination, amount, mint, decimals) of a transfer instruction."""
    parsed = raw.get("parsed")
    if isinstance(parsed, dict):
        info = parsed["info"]
        if parsed["type"] == "transfer":
            return info["source"], info["destination"], int(info["amount"]), None, None
        if parsed["type"] in ("transferChecked", "transferCheckedWithFee"):
            token_amount = info["tokenAmount"]
            return (
                info["source"],
                info["destination"],
                int(token_amount["amount"]),
                info["mint"],
                token_amount["decimals"],
            )
        return None

    data = base58.b58decode(raw["data"])
    accounts = raw["accounts"]
    if accounts and isinstance(accounts[0], int):
        accounts = [keys[a] for a in accounts]
    if data[:1] == b"\x03":
        (amount,) = struct.unpack_from("<Q", data, 1)
        return accounts[0], accounts[1], amount, None, None
    if data[:1] == b"\x0c":
        amount, decimals = struct.unpack_from("<QB", data, 1)
        return accounts[0], accounts[2], amount, accounts[1], decimals
    return None
