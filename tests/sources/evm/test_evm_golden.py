"""Golden tests: every dataset, every recorded block, read through the real source
from the replay node and compared with rows computed independently from the JSON."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from chaintap import u256
from chaintap.datasets import evm
from chaintap.errors import TerminalError
from chaintap.tuning import ResourceProfile
from support.evm_expected import (
    BLOCK_NUMBERS,
    TRANSFER,
    all_logs,
    batch_rows,
    expected_rows,
    read_all,
    source_spec,
)
from support.evm_replay import EvmReplayServer, load_ethereum_blocks

DATASETS = sorted(evm.SCHEMAS)


@pytest.mark.parametrize("number", BLOCK_NUMBERS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_single_block_rows_equal_golden(
    evm_replay: EvmReplayServer, dataset: str, number: int
) -> None:
    spec = source_spec(evm_replay.url, dataset, start_block=number, end_block=number)
    batches = read_all(spec)

    assert [str(b.blocks) for b in batches] == [f"{number}..{number}"]
    table = batches[0].records
    assert table.schema.equals(evm.SCHEMAS[dataset], check_metadata=True)
    rows = batch_rows(batches)
    assert rows == expected_rows(dataset, [number])
    assert len({row["id"] for row in rows}) == len(rows)


def test_golden_counts_match_the_chaindata_readme(evm_replay: EvmReplayServer) -> None:
    """The README's table is a third, human-written source of the counts."""
    readme = {
        0: (0, 0),
        468179: (1, 0),
        4370006: (64, 113),
        4404763: (95, 70),
        13998626: (7, 15),
        16899757: (147, 520),
        17053184: (125, 216),
    }
    for number, (transactions, logs) in readme.items():
        for dataset, count in (("raw_transactions", transactions), ("raw_logs", logs)):
            spec = source_spec(
                evm_replay.url, dataset, start_block=number, end_block=number
            )
            assert len(batch_rows(read_all(spec))) == count, (dataset, number)


def test_u256_values_are_exact_beyond_float_precision(
    evm_replay: EvmReplayServer,
) -> None:
    recorded = load_ethereum_blocks()[16899757]
    values = [int(tx["value"], 16) for tx in recorded["block"]["transactions"]]
    amounts = [row["amount"] for row in expected_rows("erc20_transfers", [16899757])]
    # Values a float64 cannot hold exactly, and amounts wider than 64 bits.
    assert max(values) > 2**53 and max(amounts) > 2**64

    for dataset, column, wanted in (
        ("raw_transactions", "value", values),
        ("erc20_transfers", "amount", amounts),
    ):
        spec = source_spec(
            evm_replay.url, dataset, start_block=16899757, end_block=16899757
        )
        table = read_all(spec)[0].records
        assert u256.to_ints(table.column(column)) == wanted


def test_erc20_transfers_exclude_erc721_transfers(evm_replay: EvmReplayServer) -> None:
    erc721_ids = {
        f"{e['transactionHash']}_{int(e['logIndex'], 16)}"
        for recorded in load_ethereum_blocks().values()
        for e in all_logs(recorded)
        if e["topics"] and e["topics"][0] == TRANSFER and len(e["topics"]) == 4
    }
    assert erc721_ids, "the chain data should hold ERC-721 transfers"

    profile = ResourceProfile("test", 5_000_000, 4, 50, 1, 1000)
    spec = source_spec(
        evm_replay.url, "erc20_transfers", start_block=0, end_block=17053184
    )
    ids = {row["id"] for row in batch_rows(read_all(spec, profile))}
    assert ids and not ids & erc721_ids


@pytest.mark.parametrize("dataset", ["raw_logs", "erc20_transfers"])
def test_whole_chaindata_span_in_concurrent_batches(
    evm_replay: EvmReplayServer, dataset: str
) -> None:
    """Blocks 0..17053184 in 2M-block batches, four at once: every log once, in order.

    The log datasets ask only for the headers of blocks that have logs, so the
    blocks the node lacks between the recorded ones read as blocks without logs.
    """
    profile = ResourceProfile("test", 2_000_000, 4, 50, 1, 1000)
    spec = source_spec(evm_replay.url, dataset, start_block=0, end_block=17053184)
    batches = read_all(spec, profile)

    ranges = [(b.blocks.start, b.blocks.end) for b in batches]
    assert ranges[0][0] == 0 and ranges[-1][1] == 17053184
    assert all(nxt[0] == cur[1] + 1 for cur, nxt in pairwise(ranges))
    assert len(ranges) == 9
    rows = batch_rows(batches)
    assert rows == expected_rows(dataset)
    assert len({row["id"] for row in rows}) == len(rows)


@pytest.mark.parametrize("dataset", ["raw_logs", "erc20_transfers"])
def test_log_range_around_a_recorded_block(
    evm_replay: EvmReplayServer, dataset: str
) -> None:
    spec = source_spec(
        evm_replay.url, dataset, start_block=13998620, end_block=13998630
    )
    assert batch_rows(read_all(spec)) == expected_rows(dataset, [13998626])


@pytest.mark.parametrize("dataset", ["blocks", "raw_transactions"])
def test_block_the_node_lacks_below_its_head_is_a_clear_error(
    evm_replay: EvmReplayServer, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that answers null for a block under its head is not trusted to be
    right about it: after the rechecks the run fails naming node and block."""
    monkeypatch.setattr("chaintap.tuning.EVM_RECHECK_BACKOFF_S", 0.01)
    spec = source_spec(
        evm_replay.url, dataset, start_block=13998625, end_block=13998627
    )

    with pytest.raises(TerminalError) as caught:
        read_all(spec)

    message = str(caught.value)
    assert "null for block 13998625" in message
    assert "127.0.0.1" in message and "13998625..13998627" in message
    calls = Counter(evm_replay.calls)
    assert calls["eth_getBlockByNumber"] == 3 * 4  # each attempt asks for the range
