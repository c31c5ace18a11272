"""A misbehaving node still yields exactly the golden rows, or fails clearly.

Faults come from the replay node's switches (real HTTP, real client retries);
backoff pauses are shortened so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaintap.errors import TerminalError, TransientError
from chaintap.sources.evm import EvmRpcSource
from chaintap.sources.evm.fetch import RangeFetcher
from chaintap.sources.jsonrpc import JsonRpcClient
from chaintap.spec.model import BlockRange
from chaintap.tuning import ResourceProfile, profile_for
from support.evm_expected import (
    BLOCK_NUMBERS,
    TRANSFER,
    all_logs,
    batch_rows,
    expected_rows,
    read_all,
    source_spec,
    table_rows,
)
from support.evm_replay import EvmReplayServer, load_ethereum_blocks

BUSY = 16899757  # 147 transactions, 520 logs


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("chaintap.sources.jsonrpc.RPC_BACKOFF_INITIAL_S", 0.001)
    monkeypatch.setattr("chaintap.tuning.EVM_RECHECK_BACKOFF_S", 0.001)
    yield


def _busy_block(url: str, dataset: str) -> list[dict[str, object]]:
    return batch_rows(
        read_all(source_spec(url, dataset, start_block=BUSY, end_block=BUSY))
    )


@pytest.mark.parametrize("fault", ["fail_429", "fail_500", "truncate"])
@pytest.mark.parametrize("dataset", ["raw_transactions", "raw_logs"])
def test_transient_http_faults_are_retried(
    evm_replay: EvmReplayServer, fault: str, dataset: str
) -> None:
    spec = source_spec(evm_replay.url, dataset, start_block=BUSY, end_block=BUSY)
    source = EvmRpcSource(spec, profile_for("xs"))
    try:
        source.open(None)
        setattr(evm_replay, fault, 3)  # the faults meet the fetches, not open()
        rows = batch_rows(list(source.read()))
    finally:
        source.close()

    assert rows == expected_rows(dataset, [BUSY])
    assert getattr(evm_replay, fault) == 0  # every injected fault was met


def test_a_node_that_keeps_failing_gives_up_with_a_transient_error(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.fail_500 = 1000
    spec = source_spec(evm_replay.url, "blocks", start_block=BUSY, end_block=BUSY)
    with pytest.raises(TransientError, match=r"127\.0\.0\.1.*eth_chainId"):
        read_all(spec)


@pytest.mark.parametrize("dataset", ["raw_logs", "erc20_transfers"])
def test_too_many_results_splits_the_range(
    evm_replay: EvmReplayServer, dataset: str
) -> None:
    """The node caps results at the busiest block's count of the logs asked for,
    so only ranges holding one recorded block pass; the source halves until then."""
    transfers_only = dataset == "erc20_transfers"
    evm_replay.logs_max_results = max(
        sum(
            1
            for e in all_logs(recorded)
            if not transfers_only or e["topics"][:1] == [TRANSFER]
        )
        for recorded in load_ethereum_blocks().values()
    )
    profile = ResourceProfile("test", 20_000_000, 2, 50, 1, 1000)
    spec = source_spec(evm_replay.url, dataset, start_block=0, end_block=17053184)

    rows = batch_rows(read_all(spec, profile))

    assert rows == expected_rows(dataset)
    assert evm_replay.calls["eth_getLogs"] > 1


def test_too_large_block_range_splits_the_range(evm_replay: EvmReplayServer) -> None:
    evm_replay.logs_max_range = 64
    profile = ResourceProfile("test", 1000, 1, 50, 1, 1000)
    spec = source_spec(
        evm_replay.url, "raw_logs", start_block=BUSY - 500, end_block=BUSY + 499
    )

    rows = batch_rows(read_all(spec, profile))

    assert rows == expected_rows("raw_logs", [BUSY])
    spans = [
        int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1
        for f in evm_replay.log_filters
    ]
    assert max(spans) == 1000 and min(spans) <= 64


def test_a_single_block_the_node_still_refuses_is_a_clear_error(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.logs_max_results = 100
    spec = source_spec(evm_replay.url, "raw_logs", start_block=BUSY, end_block=BUSY)
    with pytest.raises(
        TerminalError, match=rf"refuses eth_getLogs even for blocks {BUSY}"
    ):
        read_all(spec)


def test_receipts_fall_back_per_transaction_and_remember_it(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.block_receipts_supported = False
    spec = source_spec(
        evm_replay.url, "raw_transactions", start_block=BUSY, end_block=BUSY
    )
    assert batch_rows(read_all(spec)) == expected_rows("raw_transactions", [BUSY])
    assert evm_replay.calls["eth_getTransactionReceipt"] == 147

    # One fetcher (one run) asks for block receipts once, then only per transaction.
    evm_replay.calls.clear()
    client = JsonRpcClient(evm_replay.url, chain="ethereum")
    fetcher = RangeFetcher(client, "raw_transactions", batch_size=50)
    try:
        for number in BLOCK_NUMBERS:
            table = fetcher.fetch(BlockRange(number, number))
            assert table_rows(table) == expected_rows("raw_transactions", [number])
    finally:
        client.close()
    assert evm_replay.calls["eth_getBlockReceipts"] == 1
    assert evm_replay.calls["eth_getTransactionReceipt"] == len(
        expected_rows("raw_transactions")
    )


@pytest.mark.parametrize("dataset", ["raw_logs", "erc20_transfers"])
def test_a_log_with_a_wrong_block_hash_is_fetched_again(
    evm_replay: EvmReplayServer, dataset: str
) -> None:
    evm_replay.wrong_log_hash = 1
    assert _busy_block(evm_replay.url, dataset) == expected_rows(dataset, [BUSY])
    assert evm_replay.calls["eth_getLogs"] == 2


def test_a_wrong_block_hash_that_persists_fails_clearly(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.wrong_log_hash = 100
    spec = source_spec(evm_replay.url, "raw_logs", start_block=BUSY, end_block=BUSY)
    with pytest.raises(
        TerminalError, match=r"blockHash 0xabab.*still after 4 attempts"
    ):
        read_all(spec)
