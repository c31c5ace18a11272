"""A real ERC-20 workload on a local anvil node, with a record of what it did.

`run_workload` deploys the demo token from anvil's unlocked account 0, mints to two
accounts, has account 0 approve account 4 and then sends `transfers` transfers
between the ten dev accounts: deterministic amounts (seeded), one above 2**64, one of
exactly 0, one through `transferFrom`. Automining is switched off so several
transfers share a block, and empty blocks are mined in between, which is what
block-range bookkeeping has to get right.

The returned `Workload` keeps two lists that the tests compare against a pipeline's
output: what was *intended* (sender, recipient, amount per transaction, decided here
before sending) and what was *emitted* (Transfer logs read back from the receipts,
with block number, transaction hash and log index).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chaintap.demo.token import (
    TRANSFER_TOPIC,
    TokenArtifact,
    call_data,
    encode_address,
    encode_uint,
    load_token_artifact,
    topic_address,
)
from chaintap.errors import TerminalError
from chaintap.sources.jsonrpc import JsonRpcClient

log = logging.getLogger(__name__)

TOKEN_NAME = "Chaintap Demo Token"
TOKEN_SYMBOL = "CTD"
DEV_ACCOUNTS = 10
# Explicit gas per token call: an estimate made against the last block can be too
# low once earlier transactions in the same (not yet mined) block change storage.
TOKEN_CALL_GAS = 120_000
# Transfers per mined block, cycled; after every third block two empty blocks follow.
BLOCK_SIZES = (1, 3, 2, 5, 1, 4)
EMPTY_BLOCKS_EVERY = 3
EMPTY_BLOCKS = 2
# The amount above the uint64 range (2**64 + a few) and the two mints.
BIG_AMOUNT = (1 << 64) + 123_456_789
MINT_MAIN = 1 << 96
MINT_SECOND = 10**24 + 7
# anvil seals a block within milliseconds; 10 s only guards against a stuck node.
RECEIPT_TIMEOUT_S = 10.0
RECEIPT_POLL_S = 0.01


@dataclass(frozen=True)
class IntendedTransfer:
    """What one transaction was sent to do; `kind` is mint, transfer or transferFrom."""

    kind: str
    sender: str
    recipient: str
    amount: int
    transaction_hash: str


@dataclass(frozen=True)
class EmittedTransfer:
    """One Transfer log of the token, as the node's receipt reports it."""

    sender: str
    recipient: str
    amount: int
    block_number: int
    block_hash: str
    transaction_hash: str
    transaction_index: int
    log_index: int


@dataclass(frozen=True)
class Workload:
    """What `run_workload` put on the chain. Block bounds are inclusive.

    `first_block` is the deployment block; `last_block` the chain head when the
    workload finished (the trailing blocks are empty). `balances` are the final token
    balances implied by `intended`, for checking against the contract.
    """

    chain_id: int
    token: str
    deployer: str
    accounts: tuple[str, ...]
    deployment_block: int
    first_block: int
    last_block: int
    intended: tuple[IntendedTransfer, ...]
    transfers: tuple[EmittedTransfer, ...]
    balances: dict[str, int]

    @property
    def transfer_count(self) -> int:
        """Transfer events emitted (mints included)."""
        return len(self.transfers)

    @property
    def blocks_with_transfers(self) -> int:
        return len({t.block_number for t in self.transfers})


@dataclass(frozen=True)
class _Planned:
    sender: str
    recipient: str
    amount: int
    spender: str | None = None  # set for transferFrom: the account that sends the tx


def plan_transfers(
    accounts: tuple[str, ...],
    balances: dict[str, int],
    count: int,
    spender: str,
    seed: int,
) -> Iterator[list[_Planned]]:
    """Yield blocks of planned transfers that cannot revert in any in-block order.

    A sender only spends what it held at the start of the block minus what it already
    spends in that block; incoming transfers count from the next block on. `balances`
    is updated in place to the balances after each yielded block.
    """
    rng = random.Random(seed)
    made = 0
    block_index = 0
    while made < count:
        available = dict(balances)
        block: list[_Planned] = []
        for _ in range(min(BLOCK_SIZES[block_index % len(BLOCK_SIZES)], count - made)):
            block.append(_next_transfer(made, accounts, available, spender, rng))
            made += 1
        for planned in block:
            balances[planned.sender] -= planned.amount
            balances[planned.recipient] += planned.amount
        yield block
        block_index += 1


def _next_transfer(
    index: int,
    accounts: tuple[str, ...],
    available: dict[str, int],
    spender: str,
    rng: random.Random,
) -> _Planned:
    """The `index`-th transfer: fixed special cases first, then seeded random ones."""
    if index == 0:
        planned = _Planned(accounts[0], accounts[2], BIG_AMOUNT)
    elif index == 1:
        planned = _Planned(accounts[1], accounts[3], 0)
    elif index == 2:
        planned = _Planned(accounts[0], accounts[5], 10**21 + 1, spender=spender)
    else:
        senders = [a for a in accounts if available[a] > 0]
        sender = rng.choice(senders)
        recipient = rng.choice([a for a in accounts if a != sender])
        ceiling = min(available[sender], 10 ** rng.randint(0, 27))
        planned = _Planned(sender, recipient, rng.randint(1, ceiling))

    if planned.amount > available[planned.sender]:
        raise TerminalError(
            f"demo workload plan: transfer {index} needs {planned.amount} but "
            f"{planned.sender} has {available[planned.sender]}; raise the mints"
        )
    available[planned.sender] -= planned.amount
    return planned


class _Chain:
    """The few node calls the workload makes, with receipts checked for success."""

    def __init__(self, client: JsonRpcClient) -> None:
        self.client = client

    def send(self, sender: str, data: str, to: str | None = None) -> str:
        tx: dict[str, Any] = {"from": sender, "data": data}
        if to is not None:
            tx["to"] = to
            tx["gas"] = hex(TOKEN_CALL_GAS)
        return str(self.client.call("eth_sendTransaction", [tx]))

    def receipts(self, hashes: list[str]) -> list[dict[str, Any]]:
        """The receipts of `hashes`, waiting for them; raise if one reverted.

        anvil answers `eth_sendTransaction` before its automine has sealed the block,
        so a receipt asked for right away may still be null.
        """
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        while len(found) < len(hashes):
            missing = [h for h in hashes if h not in found]
            answers = self.client.batch(
                [("eth_getTransactionReceipt", [h]) for h in missing]
            )
            for tx_hash, receipt in zip(missing, answers, strict=True):
                if isinstance(receipt, dict):
                    found[tx_hash] = receipt
            if len(found) < len(hashes):
                if time.monotonic() > deadline:
                    raise TerminalError(
                        f"demo workload: no receipt for {missing[0]} after "
                        f"{RECEIPT_TIMEOUT_S:.0f}s; the node did not mine it"
                    )
                time.sleep(RECEIPT_POLL_S)

        for tx_hash in hashes:
            if found[tx_hash].get("status") != "0x1":
                raise TerminalError(
                    f"demo workload: transaction {tx_hash} reverted; the token or "
                    f"the transfer plan is wrong"
                )
        return [found[h] for h in hashes]

    def head(self) -> int:
        return int(self.client.call("eth_blockNumber", []), 16)


def run_workload(url: str, *, transfers: int = 40, seed: int = 20_240_601) -> Workload:
    """Put the token and `transfers` transfers (at least 3) on the node at `url`.

    Steps: 1. deploy the token and mint (one block each); 2. approve the spender;
    3. with automine off, send each planned block of transfers and mine it, adding
    empty blocks in between; 4. turn automine back on; 5. read every Transfer log
    back from the receipts. Raises `TerminalError` when a transaction reverts.
    """
    if transfers < 3:
        raise ValueError("the demo workload needs at least 3 transfers")
    artifact = load_token_artifact()
    with JsonRpcClient(url, chain="anvil") as client:
        return _run(client, artifact, transfers, seed)


def _run(
    client: JsonRpcClient, artifact: TokenArtifact, transfers: int, seed: int
) -> Workload:
    chain = _Chain(client)
    chain_id = int(client.call("eth_chainId", []), 16)
    accounts = tuple(a.lower() for a in client.call("eth_accounts", []))[:DEV_ACCOUNTS]
    if len(accounts) < DEV_ACCOUNTS:
        raise TerminalError(
            f"demo workload: the node has {len(accounts)} unlocked accounts, it needs "
            f"{DEV_ACCOUNTS}; start anvil with its default accounts"
        )
    deployer, spender = accounts[0], accounts[4]

    # 1. Deploy and mint, one block each (automine on).
    client.call("evm_setAutomine", [True])
    deploy_hash = chain.send(deployer, artifact.deploy_data(TOKEN_NAME, TOKEN_SYMBOL))
    deployed = chain.receipts([deploy_hash])[0]
    token = str(deployed["contractAddress"]).lower()
    intended: list[IntendedTransfer] = []
    hashes: list[str] = []
    balances = dict.fromkeys(accounts, 0)
    for recipient, amount in ((accounts[0], MINT_MAIN), (accounts[1], MINT_SECOND)):
        data = call_data(
            "mint(address,uint256)", encode_address(recipient), encode_uint(amount)
        )
        tx_hash = chain.send(deployer, data, to=token)
        chain.receipts([tx_hash])
        zero = "0x" + "0" * 40
        intended.append(IntendedTransfer("mint", zero, recipient, amount, tx_hash))
        hashes.append(tx_hash)
        balances[recipient] += amount

    # 2. The spender may move up to 10**22 of account 0's tokens (transferFrom case).
    approve = call_data(
        "approve(address,uint256)", encode_address(spender), encode_uint(10**22)
    )
    chain.receipts([chain.send(deployer, approve, to=token)])

    # 3. Blocks of transfers with automine off; 4. automine back on, even on failure.
    client.call("evm_setAutomine", [False])
    try:
        plan = plan_transfers(accounts, balances, transfers, spender, seed)
        for number, block in enumerate(plan, start=1):
            sent = [_send_planned(chain, token, planned) for planned in block]
            client.call("evm_mine", [])
            mined = chain.receipts([tx_hash for _, tx_hash in sent])
            if len({r["blockNumber"] for r in mined}) != 1:
                raise TerminalError("demo workload: one planned block was split")
            intended.extend(record for record, _ in sent)
            hashes.extend(tx_hash for _, tx_hash in sent)
            if number % EMPTY_BLOCKS_EVERY == 0:
                client.call("anvil_mine", [hex(EMPTY_BLOCKS)])
        client.call("anvil_mine", [hex(EMPTY_BLOCKS)])
    finally:
        client.call("evm_setAutomine", [True])

    # 5. Read back what the chain says happened.
    emitted = _read_transfers(chain, token, hashes)
    workload = Workload(
        chain_id=chain_id,
        token=token,
        deployer=deployer,
        accounts=accounts,
        deployment_block=int(deployed["blockNumber"], 16),
        first_block=int(deployed["blockNumber"], 16),
        last_block=chain.head(),
        intended=tuple(intended),
        transfers=emitted,
        balances=balances,
    )
    log.info(
        "demo workload: token %s, %d Transfer events in blocks %d..%d",
        token,
        len(emitted),
        workload.first_block,
        workload.last_block,
    )
    return workload


def _send_planned(
    chain: _Chain, token: str, planned: _Planned
) -> tuple[IntendedTransfer, str]:
    recipient = encode_address(planned.recipient)
    amount = encode_uint(planned.amount)
    if planned.spender is None:
        data = call_data("transfer(address,uint256)", recipient, amount)
        tx_hash = chain.send(planned.sender, data, to=token)
        kind = "transfer"
    else:
        owner = encode_address(planned.sender)
        data = call_data(
            "transferFrom(address,address,uint256)", owner, recipient, amount
        )
        tx_hash = chain.send(planned.spender, data, to=token)
        kind = "transferFrom"
    record = IntendedTransfer(
        kind, planned.sender, planned.recipient, planned.amount, tx_hash
    )
    return record, tx_hash


def _read_transfers(
    chain: _Chain, token: str, hashes: list[str]
) -> tuple[EmittedTransfer, ...]:
    """Every Transfer log of `token` in the receipts of `hashes`, in chain order."""
    out: list[EmittedTransfer] = []
    for receipt in chain.receipts(hashes):
        for entry in receipt["logs"]:
            topics = entry["topics"]
            if entry["address"].lower() != token or topics[0] != TRANSFER_TOPIC:
                continue
            out.append(
                EmittedTransfer(
                    sender=topic_address(topics[1]),
                    recipient=topic_address(topics[2]),
                    amount=int(entry["data"], 16),
                    block_number=int(entry["blockNumber"], 16),
                    block_hash=entry["blockHash"].lower(),
                    transaction_hash=entry["transactionHash"].lower(),
                    transaction_index=int(entry["transactionIndex"], 16),
                    log_index=int(entry["logIndex"], 16),
                )
            )
    out.sort(key=lambda t: (t.block_number, t.log_index))
    return tuple(out)
