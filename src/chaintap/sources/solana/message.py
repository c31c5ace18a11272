"""One view of a `getBlock` transaction, whichever encoding the node answered in.

The two encodings differ in how they name accounts and instructions:

- `json`: `message.accountKeys` holds only the static keys (base58 strings). A
  versioned (v0) transaction loads more keys from address lookup tables; they are in
  `meta.loadedAddresses`, writable ones first, then readonly ones. Instructions name
  their program and accounts by index into the full key list; `data` is base58.
- `jsonParsed`: `accountKeys` are objects (`pubkey`, `signer`, `writable`, `source`)
  and already include the loaded keys (`source: lookupTable`). Instructions of
  programs the node can decode come as `{program, programId, parsed}` without raw
  data or accounts; all others as `{programId, accounts: [address], data}`.

In both, the full key order is static keys, loaded writable, loaded readonly: the
order of `pre/postBalances` and of `accountIndex` in token balances. Functions here
assume a well-formed answer and let KeyError / IndexError / TypeError through; the
caller turns those into one `MalformedBlock` naming the slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Instruction:
    """One top-level or inner instruction of a transaction.

    `index` is the position among the top-level instructions, or for an inner one
    its 0-based position among the instructions its parent invoked; `parent_index`
    is the parent's top-level index (None for top-level). `accounts` and `data` are
    None when the node gave only a parsed form (`jsonParsed`); `parsed` is then the
    node's decoding (an object, or a string for programs such as Memo).
    """

    index: int
    parent_index: int | None
    program_id: str
    accounts: tuple[str, ...] | None
    data: str | None
    parsed: Any = None

    @property
    def label(self) -> str:
        """`"3"` for top-level instruction 3, `"2.1"` for the second inner of 2."""
        if self.parent_index is None:
            return str(self.index)
        return f"{self.parent_index}.{self.index}"


def signature(tx: Mapping[str, Any]) -> str:
    """The transaction's first signature, which is its id on chain."""
    return str(tx["transaction"]["signatures"][0])


def succeeded(meta: Mapping[str, Any] | None) -> bool:
    """True when the transaction succeeded.

    `meta.err` decides; the older `meta.status` mirrors it and is not read (when
    the two disagree, as in hand-edited samples, `err` wins).
    """
    return meta is not None and meta.get("err") is None


def account_keys(tx: Mapping[str, Any]) -> list[str]:
    """Every account key in full order: static, loaded writable, loaded readonly."""
    raw = tx["transaction"]["message"]["accountKeys"]
    if raw and isinstance(raw[0], Mapping):
        # jsonParsed: the list already holds the keys loaded from lookup tables.
        return [str(entry["pubkey"]) for entry in raw]

    keys = [str(key) for key in raw]
    loaded = (tx.get("meta") or {}).get("loadedAddresses") or {}
    keys.extend(str(key) for key in loaded.get("writable") or ())
    keys.extend(str(key) for key in loaded.get("readonly") or ())
    return keys


def instructions(tx: Mapping[str, Any], keys: Sequence[str]) -> list[Instruction]:
    """Top-level instructions in order, each followed by the inner ones it invoked.

    A node that recorded no inner instructions (`innerInstructions: null`, old
    ledgers) gives only the top-level ones.
    """
    inner_by_parent: dict[int, list[Any]] = {}
    for group in (tx.get("meta") or {}).get("innerInstructions") or ():
        inner_by_parent.setdefault(int(group["index"]), []).extend(
            group["instructions"]
        )

    out: list[Instruction] = []
    top_level = tx["transaction"]["message"]["instructions"]
    for index, raw in enumerate(top_level):
        out.append(_instruction(raw, index, None, keys))
        for position, inner in enumerate(inner_by_parent.get(index, ())):
            out.append(_instruction(inner, position, index, keys))
    return out


def _instruction(
    raw: Mapping[str, Any], index: int, parent: int | None, keys: Sequence[str]
) -> Instruction:
    if "programIdIndex" in raw:
        # json: program and accounts are indexes into the full key list.
        return Instruction(
            index,
            parent,
            keys[int(raw["programIdIndex"])],
            tuple(keys[int(i)] for i in raw["accounts"]),
            str(raw["data"]),
        )
    if "parsed" in raw:
        # jsonParsed gives no raw data or account list for parsed instructions:
        # their `data`/`accounts` columns stay null.
        return Instruction(
            index, parent, str(raw["programId"]), None, None, raw["parsed"]
        )
    return Instruction(
        index,
        parent,
        str(raw["programId"]),
        tuple(str(a) for a in raw["accounts"]),
        str(raw["data"]),
    )
