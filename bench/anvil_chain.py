"""Build a many-block chain on a local anvil node, for the extraction benchmarks.

    python bench/anvil_chain.py --blocks 3000        # starts anvil, builds, stops

The chain, from block 0 (genesis) to `last_block`, all inclusive:

- setup blocks: `TOKENS` copies of the demo ERC-20 (src/chaintap/demo/token.py)
  are deployed, then every holder gets a mint of every token (a Transfer from
  address 0), `SETUP_TXS_PER_BLOCK` mints per block;
- `HOLDERS` accounts: anvil's ten unlocked dev accounts plus generated addresses
  that anvil impersonates (`anvil_autoImpersonateAccount`), each given ETH with
  `anvil_setBalance` (state only, no block);
- then `blocks` workload blocks. A block is empty with probability
  `EMPTY_SHARE` (mined in runs with `anvil_mine`); otherwise its transaction
  count is drawn from a gamma distribution (mean `TXS_MEAN`, spread `TXS_STD`,
  at least 1). Each transaction is an ERC-20 `transfer` (share `TRANSFER_SHARE`;
  one Transfer log), an `approve` (`APPROVE_SHARE`; one Approval log) or a plain
  ETH transfer (the rest; no log). Tokens are picked with Zipf-like popularity
  (`TOKEN_WEIGHTS`), senders and recipients uniformly among the holders.

With the defaults a block averages ~53 transactions and ~38 logs: about a third
of a 2023 mainnet block's transactions and a sixth of its logs (~250, see
bench/generate.py), so per-block costs weigh more in logs/s here than on mainnet.

Transactions are sent with automine off, as JSON-RPC batches of
`eth_sendTransaction` with explicit nonces and gas, then one `evm_mine` per
block. The build checks the result: the transactions mined and the logs on the
chain must number what was sent (a reverted or dropped transaction fails it).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from chaintap.demo.anvil import AnvilNode
from chaintap.demo.token import (
    call_data,
    encode_address,
    encode_uint,
    keccak256,
    load_token_artifact,
)
from chaintap.errors import TerminalError
from chaintap.sources.jsonrpc import JsonRpcClient

log = logging.getLogger(__name__)

TOKENS = 4
TOKEN_WEIGHTS = (0.55, 0.25, 0.13, 0.07)
HOLDERS = 200
EMPTY_SHARE = 0.12
TXS_MEAN = 60.0
TXS_STD = 35.0
TXS_MAX = 200
TRANSFER_SHARE = 0.65
APPROVE_SHARE = 0.08
SETUP_TXS_PER_BLOCK = 200
# Gas limits sent with each transaction, so anvil does not estimate (an estimate
# runs the call once more) while staying far below the 30M block limit at TXS_MAX.
TOKEN_GAS = 80_000
ETH_GAS = 21_000
DEPLOY_GAS = 2_000_000
MINT_AMOUNT = 10**30
ETH_BALANCE = 10**24
# Calls per JSON-RPC request when reading the chain back for the checks.
CHECK_BATCH = 500


@dataclass(frozen=True)
class ChainShape:
    """What `build_chain` put on the node. Block bounds are inclusive."""

    url: str
    first_block: int
    last_block: int
    workload_blocks: int
    empty_blocks: int
    transactions: int
    token_transfers: int
    approvals: int
    eth_transfers: int
    logs: int
    tokens: tuple[str, ...]
    holders: int
    build_seconds: float

    @property
    def blocks(self) -> int:
        return self.last_block - self.first_block + 1

    @property
    def transfer_logs(self) -> int:
        """Transfer events on the chain: the setup mints and the transfers."""
        return self.logs - self.approvals

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "blocks": self.blocks}


class _Sender:
    """Sends transactions with explicit nonces and counts what it sent."""

    def __init__(self, client: JsonRpcClient) -> None:
        self.client = client
        self.nonces: dict[str, int] = {}
        self.pending: list[tuple[str, list[Any]]] = []

    def add(self, sender: str, to: str | None, data: str, gas: int, value: int) -> None:
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        tx: dict[str, Any] = {
            "from": sender, "data": data, "gas": hex(gas),
            "nonce": hex(nonce), "value": hex(value),
        }  # fmt: skip
        if to is not None:
            tx["to"] = to
        self.pending.append(("eth_sendTransaction", [tx]))

    def mine(self) -> int:
        """Send the pending transactions and mine them into one block; their count."""
        sent, self.pending = self.pending, []
        for answer in self.client.batch(sent):
            if not isinstance(answer, str):
                raise TerminalError(f"anvil chain build: a send was refused: {answer}")
        self.client.call("evm_mine", [])
        return len(sent)


def build_chain(url: str, *, blocks: int, seed: int = 7) -> ChainShape:
    """Build the chain the module docstring describes on the fresh node at `url`.

    Steps: 1. accounts and balances; 2. deploy the tokens; 3. mint to every
    holder; 4. the workload blocks; 5. check the chain against what was sent.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    with JsonRpcClient(url, chain="anvil", timeout_s=120.0) as client:
        if int(client.call("eth_blockNumber", []), 16) != 0:
            raise TerminalError("anvil chain build: the node is not fresh (head > 0)")
        send = _Sender(client)

        # 1. Holders: the dev accounts, then impersonated ones with ETH.
        accounts = [str(a).lower() for a in client.call("eth_accounts", [])]
        holders = accounts + [
            "0x" + keccak256(f"holder-{seed}-{i}".encode())[-20:].hex()
            for i in range(HOLDERS - len(accounts))
        ]
        client.call("anvil_autoImpersonateAccount", [True])
        client.batch([("anvil_setBalance", [h, hex(ETH_BALANCE)]) for h in holders])
        client.call("evm_setAutomine", [False])

        # 2. + 3. Tokens, then a mint of each to every holder.
        deployer = accounts[0]
        artifact = load_token_artifact()
        for index in range(TOKENS):
            data = artifact.deploy_data(f"Bench Token {index}", f"BT{index}")
            send.add(deployer, None, data, DEPLOY_GAS, 0)
        send.mine()
        tokens = _deployed(client, deployer)
        mints = [(t, h) for t in tokens for h in holders]
        for offset in range(0, len(mints), SETUP_TXS_PER_BLOCK):
            for token, holder in mints[offset : offset + SETUP_TXS_PER_BLOCK]:
                words = encode_address(holder), encode_uint(MINT_AMOUNT)
                data = call_data("mint(address,uint256)", *words)
                send.add(deployer, token, data, TOKEN_GAS, 0)
            send.mine()
        first_workload = int(client.call("eth_blockNumber", []), 16) + 1

        # 4. The workload blocks.
        counts = _Counts()
        empty_run = 0
        for _ in range(blocks):
            if rng.random() < EMPTY_SHARE:
                empty_run += 1
                continue
            if empty_run:
                client.call("anvil_mine", [hex(empty_run)])
                counts.empty += empty_run
                empty_run = 0
            for _ in range(_tx_count(rng)):
                _add_transaction(send, rng, tokens, holders, counts)
            counts.transactions += send.mine()
        if empty_run:
            client.call("anvil_mine", [hex(empty_run)])
            counts.empty += empty_run
        client.call("evm_setAutomine", [True])

        # 5. Check: every transaction mined, every log there.
        last = int(client.call("eth_blockNumber", []), 16)
        expected_logs = len(mints) + counts.transfers + counts.approvals
        _check(client, first_workload, last, counts.transactions, expected_logs)

    shape = ChainShape(
        url=url, first_block=0, last_block=last, workload_blocks=blocks,
        empty_blocks=counts.empty, transactions=counts.transactions,
        token_transfers=counts.transfers, approvals=counts.approvals,
        eth_transfers=counts.eth, logs=expected_logs, tokens=tuple(tokens),
        holders=len(holders), build_seconds=time.perf_counter() - started,
    )  # fmt: skip
    log.info(
        "anvil chain: blocks 0..%d, %d transactions, %d logs in %.1fs",
        last, shape.transactions, shape.logs, shape.build_seconds,
    )  # fmt: skip
    return shape


@dataclass
class _Counts:
    transactions: int = 0
    transfers: int = 0
    approvals: int = 0
    eth: int = 0
    empty: int = 0


def _tx_count(rng: random.Random) -> int:
    shape = (TXS_MEAN / TXS_STD) ** 2
    return max(1, min(TXS_MAX, round(rng.gammavariate(shape, TXS_MEAN / shape))))


def _add_transaction(
    send: _Sender,
    rng: random.Random,
    tokens: list[str],
    holders: list[str],
    counts: _Counts,
) -> None:
    sender, recipient = rng.sample(holders, 2)
    kind = rng.random()
    if kind >= TRANSFER_SHARE + APPROVE_SHARE:
        send.add(sender, recipient, "0x", ETH_GAS, rng.randint(1, 10**18))
        counts.eth += 1
        return

    token = rng.choices(tokens, weights=TOKEN_WEIGHTS[: len(tokens)])[0]
    # Amounts of every size up to 10**27; a holder cannot run out (mint 10**30).
    amount = rng.randint(0, 10 ** rng.randint(0, 27))
    words = encode_address(recipient), encode_uint(amount)
    if kind < TRANSFER_SHARE:
        send.add(
            sender, token, call_data("transfer(address,uint256)", *words), TOKEN_GAS, 0
        )
        counts.transfers += 1
    else:
        send.add(
            sender, token, call_data("approve(address,uint256)", *words), TOKEN_GAS, 0
        )
        counts.approvals += 1


def _deployed(client: JsonRpcClient, deployer: str) -> list[str]:
    """The contract addresses of the deployer's first TOKENS transactions."""
    block = client.call("eth_getBlockByNumber", ["latest", False])
    receipts = client.batch(
        [("eth_getTransactionReceipt", [h]) for h in block["transactions"]]
    )
    tokens = [str(r["contractAddress"]).lower() for r in receipts if r]
    if len(tokens) != TOKENS or any(r.get("status") != "0x1" for r in receipts):
        raise TerminalError(f"anvil chain build: {len(tokens)} of {TOKENS} deployed")
    return tokens


def _check(
    client: JsonRpcClient, first: int, last: int, transactions: int, logs: int
) -> None:
    """Raise unless blocks first..last hold `transactions` and the chain `logs`."""
    numbers = list(range(first, last + 1))
    mined = 0
    for offset in range(0, len(numbers), CHECK_BATCH):
        chunk = numbers[offset : offset + CHECK_BATCH]
        answers = client.batch(
            [("eth_getBlockTransactionCountByNumber", [hex(n)]) for n in chunk]
        )
        mined += sum(int(a, 16) for a in answers)
    found = 0
    step = max(1, math.ceil((last + 1) / 8))
    for start in range(0, last + 1, step):
        end = min(start + step - 1, last)
        params = {"fromBlock": hex(start), "toBlock": hex(end)}
        found += len(client.call("eth_getLogs", [params]))
    if mined != transactions or found != logs:
        raise TerminalError(
            f"anvil chain build: sent {transactions} transactions with {logs} logs, "
            f"the chain holds {mined} and {found}; a transaction was dropped or "
            f"reverted"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=3000, help="workload blocks")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with AnvilNode() as node:
        shape = build_chain(node.url, blocks=args.blocks, seed=args.seed)
    json.dump(shape.as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
