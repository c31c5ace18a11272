"""SPL Token and Token-2022 transfers, decoded from a transaction's instructions.

What becomes a `token_transfers` row: every successful `transfer`, `transferChecked`
and Token-2022 `transferCheckedWithFee` instruction of the Token program
(`TokenkegQ...`) or Token-2022 (`TokenzQd...`), top-level or inner, in either
encoding (`json`: base58 data and account lists; `jsonParsed`: the node's `parsed`
info, or raw data when the node did not parse it). Amounts are the raw u64 from the
instruction data or the parsed string, never a float. For `transferCheckedWithFee`
the amount is what leaves the source; the destination receives `amount - fee`.

`mintTo`, `burn` and their checked forms are decoded too, but only to reconcile
balances (see `reconciles`); they are not transfers between two token accounts.

Mint, decimals and owners come from, in order: the instruction itself
(`transferChecked` names mint and decimals), the transaction's pre/post token
balances (keyed by account index into the full key list, loaded keys included), and
accounts the same transaction initialized (`initializeAccount*`, associated token
account `create`). Anything still unknown stays null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import base58

from chaintap.sources.solana.message import Instruction

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PQ6FvwNQSBpQ7o8"
TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM, TOKEN_2022_PROGRAM})
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"

# Movement kinds; only the first three are rows of token_transfers.
TRANSFER_KINDS = frozenset({"transfer", "transferChecked", "transferCheckedWithFee"})
# Not emitted: mints and burns have one token account, not a sender and a receiver,
# so supply changes are not in token_transfers; read them from `instructions`.
SUPPLY_KINDS = frozenset({"mintTo", "mintToChecked", "burn", "burnChecked"})

# Instruction tags (first data byte) of the token programs.
_TRANSFER = 3
_MINT_TO = 7
_BURN = 8
_TRANSFER_CHECKED = 12
_MINT_TO_CHECKED = 14
_BURN_CHECKED = 15
_INITIALIZE_ACCOUNT = 1
_INITIALIZE_ACCOUNT2 = 16
_INITIALIZE_ACCOUNT3 = 18
_TRANSFER_FEE_EXTENSION = 26  # Token-2022 only; sub-tag 1 is transferCheckedWithFee
_WITH_FEE = 1


@dataclass(frozen=True, slots=True)
class TokenMovement:
    """One decoded token instruction that moves a raw amount.

    `source` is debited and `destination` credited; a mint has no source and a burn
    no destination. `mint`/`decimals` are set when the instruction names them.
    """

    instruction: Instruction
    kind: str
    source: str | None
    destination: str | None
    amount: int
    mint: str | None = None
    decimals: int | None = None
    fee: int = 0


@dataclass
class TokenAccount:
    """What one transaction tells about a token account (None where it does not)."""

    mint: str | None = None
    owner: str | None = None
    decimals: int | None = None
    before: int | None = None
    after: int | None = None

    def fill(self, mint: str | None, owner: str | None, decimals: int | None) -> None:
        """Set fields still unknown; what is known first (pre balances) wins.

        An owner changed inside the transaction (setAuthority) is not followed:
        both sides of a transfer then report the owner from before it.
        """
        self.mint = self.mint or mint
        self.owner = self.owner or owner
        self.decimals = self.decimals if self.decimals is not None else decimals


@dataclass(frozen=True, slots=True)
class TokenTransfer:
    """A `token_transfers` row before it becomes Arrow."""

    instruction: Instruction
    source: str | None
    destination: str | None
    mint: str | None
    from_owner: str | None
    to_owner: str | None
    amount: int
    decimals: int | None


def decode(instruction: Instruction) -> TokenMovement | None:
    """The token movement `instruction` performs, None when it is not one.

    Not decoded: Token-2022 confidential transfers (their amounts are encrypted),
    so they are missing from token_transfers.
    """
    if instruction.program_id not in TOKEN_PROGRAMS:
        return None
    if isinstance(instruction.parsed, Mapping):
        return _decode_parsed(instruction, instruction.parsed)
    if instruction.data is None or instruction.accounts is None:
        return None
    return _decode_raw(instruction, base58.b58decode(instruction.data))


def _decode_raw(instruction: Instruction, data: bytes) -> TokenMovement | None:
    accounts = instruction.accounts or ()
    tag = data[0] if data else -1
    if tag == _TRANSFER and len(data) >= 9 and len(accounts) >= 3:
        return TokenMovement(
            instruction, "transfer", accounts[0], accounts[1], _u64(data, 1)
        )
    if tag == _TRANSFER_CHECKED and len(data) >= 10 and len(accounts) >= 4:
        return TokenMovement(
            instruction,
            "transferChecked",
            accounts[0],
            accounts[2],
            _u64(data, 1),
            mint=accounts[1],
            decimals=data[9],
        )
    if (
        tag == _TRANSFER_FEE_EXTENSION
        and instruction.program_id == TOKEN_2022_PROGRAM
        and len(data) >= 19
        and data[1] == _WITH_FEE
        and len(accounts) >= 4
    ):
        return TokenMovement(
            instruction,
            "transferCheckedWithFee",
            accounts[0],
            accounts[2],
            _u64(data, 2),
            mint=accounts[1],
            decimals=data[10],
            fee=_u64(data, 11),
        )
    return _decode_raw_supply(instruction, tag, data, accounts)


def _decode_raw_supply(
    instruction: Instruction, tag: int, data: bytes, accounts: Sequence[str]
) -> TokenMovement | None:
    checked = tag in (_MINT_TO_CHECKED, _BURN_CHECKED)
    if len(data) < (10 if checked else 9) or len(accounts) < 2:
        return None
    decimals = data[9] if checked else None
    amount = _u64(data, 1)
    if tag in (_MINT_TO, _MINT_TO_CHECKED):
        kind = "mintToChecked" if checked else "mintTo"
        return TokenMovement(
            instruction, kind, None, accounts[1], amount, accounts[0], decimals
        )
    if tag in (_BURN, _BURN_CHECKED):
        kind = "burnChecked" if checked else "burn"
        return TokenMovement(
            instruction, kind, accounts[0], None, amount, accounts[1], decimals
        )
    return None


def _decode_parsed(
    instruction: Instruction, parsed: Mapping[str, Any]
) -> TokenMovement | None:
    kind = parsed.get("type")
    info = parsed.get("info")
    if not isinstance(info, Mapping) or kind not in TRANSFER_KINDS | SUPPLY_KINDS:
        return None
    amount, decimals = _parsed_amount(info)

    if kind in TRANSFER_KINDS:
        fee = info.get("feeAmount")
        return TokenMovement(
            instruction,
            str(kind),
            str(info["source"]),
            str(info["destination"]),
            amount,
            _opt_str(info.get("mint")),
            decimals,
            int(str(fee["amount"])) if isinstance(fee, Mapping) else 0,
        )
    mint = _opt_str(info.get("mint"))
    if kind.startswith("mintTo"):
        return TokenMovement(
            instruction, kind, None, str(info["account"]), amount, mint, decimals
        )
    return TokenMovement(
        instruction, kind, str(info["account"]), None, amount, mint, decimals
    )


def _parsed_amount(info: Mapping[str, Any]) -> tuple[int, int | None]:
    """The raw amount and decimals of parsed info; `int(str(...))` refuses floats."""
    token_amount = info.get("tokenAmount")
    if isinstance(token_amount, Mapping):
        return int(str(token_amount["amount"])), int(token_amount["decimals"])
    return int(str(info["amount"])), None


def token_accounts(
    meta: Mapping[str, Any], keys: Sequence[str], instructions: Iterable[Instruction]
) -> dict[str, TokenAccount]:
    """Mint, owner, decimals and raw balances of every token account the
    transaction reveals: pre balances, then post balances, then accounts it
    initialized (each source only fills what the earlier ones left unknown)."""
    accounts: dict[str, TokenAccount] = {}
    for field, entries in (
        ("before", meta.get("preTokenBalances")),
        ("after", meta.get("postTokenBalances")),
    ):
        for entry in entries or ():
            amount = entry["uiTokenAmount"]
            account = accounts.setdefault(
                keys[int(entry["accountIndex"])], TokenAccount()
            )
            account.fill(
                _opt_str(entry.get("mint")),
                _opt_str(entry.get("owner")),
                int(amount["decimals"]),
            )
            setattr(account, field, int(str(amount["amount"])))

    decimals_by_mint = {a.mint: a.decimals for a in accounts.values() if a.mint}
    for instruction in instructions:
        initialized = _initialized(instruction)
        if initialized is not None:
            address, mint, owner = initialized
            account = accounts.setdefault(address, TokenAccount())
            account.fill(mint, owner, decimals_by_mint.get(mint))
    return accounts


def _initialized(instruction: Instruction) -> tuple[str, str, str] | None:
    """(account, mint, owner) when `instruction` creates a token account."""
    parsed = instruction.parsed
    if isinstance(parsed, Mapping):
        info = parsed.get("info")
        kind = str(parsed.get("type"))
        if not isinstance(info, Mapping):
            return None
        if instruction.program_id in TOKEN_PROGRAMS and kind.startswith(
            "initializeAccount"
        ):
            return str(info["account"]), str(info["mint"]), str(info["owner"])
        if instruction.program_id == ASSOCIATED_TOKEN_PROGRAM and kind in (
            "create",
            "createIdempotent",
        ):
            return str(info["account"]), str(info["mint"]), str(info["wallet"])
        return None

    accounts = instruction.accounts
    if accounts is None or instruction.data is None:
        return None
    if instruction.program_id == ASSOCIATED_TOKEN_PROGRAM:
        # create / createIdempotent: funding, new account, wallet, mint, ...
        data = base58.b58decode(instruction.data)
        if (not data or data[0] in (0, 1)) and len(accounts) >= 4:
            return accounts[1], accounts[3], accounts[2]
        return None
    if instruction.program_id not in TOKEN_PROGRAMS:
        return None
    data = base58.b58decode(instruction.data)
    if not data:
        return None
    if data[0] == _INITIALIZE_ACCOUNT and len(accounts) >= 3:
        return accounts[0], accounts[1], accounts[2]
    with_owner_in_data = (_INITIALIZE_ACCOUNT2, _INITIALIZE_ACCOUNT3)
    if data[0] in with_owner_in_data and len(data) >= 33 and len(accounts) >= 2:
        return accounts[0], accounts[1], base58.b58encode(data[1:33]).decode()
    return None


def transfers(
    meta: Mapping[str, Any], keys: Sequence[str], instructions: Sequence[Instruction]
) -> tuple[list[TokenTransfer], bool]:
    """The transfers of one successful transaction, and whether they reconcile.

    The flag is False when the raw amounts of all token movements do not add up to
    the pre/post balance deltas (see `reconciles`); the rows are kept either way.
    """
    movements = [m for m in map(decode, instructions) if m is not None]
    if not movements:
        return [], True
    accounts = token_accounts(meta, keys, instructions)

    rows: list[TokenTransfer] = []
    for move in movements:
        if move.kind not in TRANSFER_KINDS:
            continue
        source = accounts.get(move.source or "", TokenAccount())
        destination = accounts.get(move.destination or "", TokenAccount())
        mint = move.mint or source.mint or destination.mint
        decimals = move.decimals
        for side in (source, destination):
            if decimals is None and side.mint == mint:
                decimals = side.decimals
        rows.append(
            TokenTransfer(
                move.instruction,
                move.source,
                move.destination,
                mint,
                source.owner,
                destination.owner,
                move.amount,
                decimals,
            )
        )
    return rows, reconciles(movements, accounts)


def reconciles(
    movements: Iterable[TokenMovement], accounts: Mapping[str, TokenAccount]
) -> bool:
    """True when, for every account with a pre or post token balance, the decoded
    movements explain `after - before` exactly (a missing side counts as 0).

    False is expected, not an error: trimmed samples, inner instructions a node did
    not record, wrapped SOL topped up by `syncNative`, and Token-2022 extensions
    (confidential transfers, interest) all move balances without a decoded movement.
    """
    expected: dict[str, int] = {}
    for move in movements:
        if move.source is not None:
            expected[move.source] = expected.get(move.source, 0) - move.amount
        if move.destination is not None:
            credited = move.amount - move.fee
            expected[move.destination] = expected.get(move.destination, 0) + credited

    for address, account in accounts.items():
        if account.before is None and account.after is None:
            continue
        delta = (account.after or 0) - (account.before or 0)
        if delta != expected.get(address, 0):
            return False
    return True


def _u64(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 8], "little")


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
