"""Bounds, cursors, the node's head, filter pushdown and configuration of the source."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from chaintap.datasets.catalog import resolve
from chaintap.errors import ConfigError, TerminalError
from chaintap.sources.evm import EvmRpcSource
from chaintap.spec.model import BlockRange, SourceSpec
from chaintap.tuning import ResourceProfile, profile_for
from support.evm_expected import (
    TRANSFER,
    all_logs,
    batch_rows,
    expected_rows,
    read_all,
    source_spec,
)
from support.evm_replay import EvmReplayServer, load_ethereum_blocks

SMALL = 13998626  # 7 transactions, 15 logs
BUSY = 16899757  # 147 transactions, 520 logs


def _inserts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Golden rows as a source following the head emits them (`_gs_op` = 'i')."""
    return [{**row, "_gs_op": "i"} for row in rows]


def _raise_head_later(server: EvmReplayServer, head: int) -> threading.Timer:
    timer = threading.Timer(0.2, setattr, (server, "head", head))
    timer.start()
    return timer


@pytest.fixture
def opened() -> Iterator[list[EvmRpcSource]]:
    """Sources a test opens by hand; closed after it."""
    sources: list[EvmRpcSource] = []
    yield sources
    for source in sources:
        source.close()


def _open(
    opened: list[EvmRpcSource],
    url: str,
    dataset: str,
    cursor: int | None = None,
    **f: Any,
) -> EvmRpcSource:
    source = EvmRpcSource(source_spec(url, dataset, **f), profile_for("xs"))
    opened.append(source)
    source.open(cursor)
    return source


def test_cursor_resumes_at_the_next_block(
    evm_replay: EvmReplayServer, opened: list[EvmRpcSource]
) -> None:
    source = _open(
        opened,
        evm_replay.url,
        "raw_logs",
        SMALL - 1,
        start_block=SMALL - 6,
        end_block=SMALL + 4,
    )
    assert source.target == BlockRange(SMALL, SMALL + 4)
    batches = list(source.read())
    assert batches[0].blocks.start == SMALL
    assert batch_rows(batches) == expected_rows("raw_logs", [SMALL])
    assert source.target is None  # nothing left


def test_cursor_at_the_end_reads_nothing(
    evm_replay: EvmReplayServer, opened: list[EvmRpcSource]
) -> None:
    source = _open(
        opened, evm_replay.url, "blocks", SMALL, start_block=0, end_block=SMALL
    )
    assert source.target is None
    assert list(source.read()) == []


def test_target_is_what_remains_after_each_batch(
    evm_replay: EvmReplayServer, opened: list[EvmRpcSource]
) -> None:
    spec = source_spec(evm_replay.url, "raw_logs", start_block=0, end_block=17053184)
    source = EvmRpcSource(spec, ResourceProfile("test", 2_000_000, 3, 50, 1, 1000))
    opened.append(source)
    source.open(None)
    assert source.target == BlockRange(0, 17053184)

    for batch in source.read():
        expected = None if batch.blocks.end == 17053184 else batch.blocks.end + 1
        remaining = source.target
        assert (remaining.start if remaining else None) == expected


def test_end_past_the_head_fails_naming_node_head_and_end(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.head = SMALL
    spec = source_spec(evm_replay.url, "blocks", start_block=SMALL, end_block=SMALL + 5)
    with pytest.raises(TerminalError) as caught:
        read_all(spec)
    message = str(caught.value)
    port = evm_replay.url.rsplit(":", 1)[1].strip("/")
    assert f"end block {SMALL + 5}" in message and f"head {SMALL}" in message
    assert f"127.0.0.1:{port}" in message and "wait_for_head" in message


def test_wait_for_head_waits_for_the_node(evm_replay: EvmReplayServer) -> None:
    evm_replay.head = SMALL - 1
    spec = source_spec(
        evm_replay.url,
        "blocks",
        start_block=SMALL,
        end_block=SMALL,
        options={"wait_for_head": True, "poll_interval": 0.02},
    )
    timer = _raise_head_later(evm_replay, SMALL)
    try:
        rows = batch_rows(read_all(spec))
    finally:
        timer.cancel()
    assert rows == expected_rows("blocks", [SMALL])
    assert evm_replay.calls["eth_blockNumber"] > 2  # it polled


def test_unbounded_source_follows_the_head_until_closed(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.head = SMALL - 1
    spec = source_spec(
        evm_replay.url,
        "raw_transactions",
        start_block=SMALL,
        options={"poll_interval": 0.02},
    )
    source = EvmRpcSource(spec, profile_for("xs"))
    timer = _raise_head_later(evm_replay, SMALL)
    try:
        source.open(None)
        assert source.target is None
        batches = source.read()
        first = next(batches)
        assert first.blocks == BlockRange(SMALL, SMALL)
        assert batch_rows([first]) == _inserts(
            expected_rows("raw_transactions", [SMALL])
        )
        source.close()
        assert list(batches) == []  # closing ends the stream
    finally:
        timer.cancel()
        source.close()


def test_default_start_is_the_head(
    evm_replay: EvmReplayServer, opened: list[EvmRpcSource]
) -> None:
    evm_replay.head = SMALL
    source = _open(opened, evm_replay.url, "raw_logs")
    assert source.target is None
    first = next(source.read())
    assert first.blocks == BlockRange(SMALL, SMALL)
    assert batch_rows([first]) == _inserts(expected_rows("raw_logs", [SMALL]))


def test_start_at_earliest_reads_genesis(evm_replay: EvmReplayServer) -> None:
    spec = source_spec(evm_replay.url, "blocks", start_at="earliest", end_block=0)
    assert batch_rows(read_all(spec)) == expected_rows("blocks", [0])


def test_latest_start_after_the_end_is_a_config_error(
    evm_replay: EvmReplayServer,
) -> None:
    spec = source_spec(evm_replay.url, "blocks", end_block=100)
    with pytest.raises(ConfigError, match=r"head 17053184 \(start_at: latest\).*100"):
        read_all(spec)


def test_filter_block_bounds_make_the_source_bounded(
    evm_replay: EvmReplayServer, opened: list[EvmRpcSource]
) -> None:
    source = _open(
        opened,
        evm_replay.url,
        "raw_logs",
        start_at="earliest",
        filter=f"block_number BETWEEN {SMALL - 3} AND {SMALL + 3}",
    )
    assert source.target == BlockRange(SMALL - 3, SMALL + 3)
    assert batch_rows(list(source.read())) == expected_rows("raw_logs", [SMALL])


def test_filter_lower_bound_is_the_start_when_none_is_given(
    evm_replay: EvmReplayServer, opened: list[EvmRpcSource]
) -> None:
    # Without start_block or start_at, a Turbo-style `block_number BETWEEN a AND b`
    # filter means blocks a..b, not "from the head" (which would read nothing).
    source = _open(
        opened,
        evm_replay.url,
        "raw_logs",
        filter=f"block_number BETWEEN {SMALL} AND {SMALL}",
    )
    assert source.target == BlockRange(SMALL, SMALL)
    assert batch_rows(list(source.read())) == expected_rows("raw_logs", [SMALL])


def test_explicit_start_at_latest_still_means_the_head(
    evm_replay: EvmReplayServer,
) -> None:
    spec = source_spec(
        evm_replay.url,
        "raw_logs",
        start_at="latest",
        filter=f"block_number BETWEEN {SMALL} AND {SMALL}",
    )
    with pytest.raises(ConfigError, match=r"start_at: latest"):
        read_all(spec)


def _busiest_address_and_topic() -> tuple[str, str]:
    logs = all_logs(load_ethereum_blocks()[BUSY])
    address = Counter(e["address"] for e in logs).most_common(1)[0][0]
    topic0 = Counter(e["topics"][0] for e in logs if e["address"] == address)
    return address, topic0.most_common(1)[0][0]


def test_address_and_topic_filter_is_pushed_to_get_logs(
    evm_replay: EvmReplayServer,
) -> None:
    address, topic0 = _busiest_address_and_topic()
    spec = source_spec(
        evm_replay.url,
        "raw_logs",
        start_block=BUSY,
        end_block=BUSY,
        filter=f"address = '{address}' AND topics LIKE '{topic0}%'",
    )

    rows = batch_rows(read_all(spec))

    wanted = [
        r
        for r in expected_rows("raw_logs", [BUSY])
        if r["address"] == address and r["topics"].split(",")[0] == topic0
    ]
    assert rows == wanted and 1 < len(wanted) < 520
    [sent] = evm_replay.log_filters
    assert sent["address"] == address and sent["topics"] == [[topic0]]


def test_erc20_transfers_always_ask_for_transfer_logs_only(
    evm_replay: EvmReplayServer,
) -> None:
    spec = source_spec(
        evm_replay.url, "erc20_transfers", start_block=BUSY, end_block=BUSY
    )
    assert batch_rows(read_all(spec)) == expected_rows("erc20_transfers", [BUSY])
    assert [f["topics"] for f in evm_replay.log_filters] == [[[TRANSFER]]]


def test_a_filter_that_matches_nothing_asks_the_node_nothing(
    evm_replay: EvmReplayServer,
) -> None:
    spec = source_spec(
        evm_replay.url,
        "raw_logs",
        start_block=BUSY,
        end_block=BUSY,
        filter="address = '0x" + "11" * 20 + "' AND address = '0x" + "22" * 20 + "'",
    )
    batches = read_all(spec)
    assert [b.blocks for b in batches] == [BlockRange(BUSY, BUSY)]
    assert batches[0].records.num_rows == 0
    assert evm_replay.calls["eth_getLogs"] == 0


def test_endpoint_from_the_environment(
    evm_replay: EvmReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINTAP_RPC_ETHEREUM", evm_replay.url)
    spec = source_spec(None, "blocks", start_block=SMALL, end_block=SMALL)
    assert batch_rows(read_all(spec)) == expected_rows("blocks", [SMALL])

    monkeypatch.delenv("CHAINTAP_RPC_ETHEREUM")
    with pytest.raises(ConfigError, match="CHAINTAP_RPC_ETHEREUM"):
        read_all(spec)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"wait_for_head": "yes"}, "wait_for_head"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "2s"}, "poll_interval"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], named: str) -> None:
    spec = source_spec("http://127.0.0.1:9", "blocks", options=options)
    with pytest.raises(ConfigError, match=named):
        EvmRpcSource(spec, profile_for("xs"))


def test_close_is_safe_twice_and_before_open(evm_replay: EvmReplayServer) -> None:
    source = EvmRpcSource(source_spec(evm_replay.url, "blocks"), profile_for("xs"))
    source.close()
    source.open(None)
    source.close()
    source.close()


def test_a_dropped_iterator_resumes_after_the_last_yielded_batch(
    evm_replay: EvmReplayServer, opened: list[EvmRpcSource]
) -> None:
    """Ranges already in flight when the reader stops are not skipped later."""
    spec = source_spec(evm_replay.url, "raw_logs", start_block=0, end_block=17053184)
    source = EvmRpcSource(spec, ResourceProfile("test", 2_000_000, 4, 50, 1, 1000))
    opened.append(source)
    source.open(None)

    first = source.read()
    head = [next(first), next(first)]
    first.close()
    rest = list(source.read())

    batches = head + rest
    assert [b.blocks.start for b in batches][1:] == [b.blocks.end + 1 for b in batches][
        :-1
    ]
    assert batch_rows(batches) == expected_rows("raw_logs")


def test_a_node_of_another_chain_is_refused(evm_replay: EvmReplayServer) -> None:
    # The replay node answers chain id 1 (Ethereum mainnet): fine for ethereum.*,
    # wrong for base.*, whose chain id is 8453.
    spec = SourceSpec(
        name="eth",
        type="dataset",
        dataset=resolve("base.blocks", None),
        rpc_url=evm_replay.url,
        start_block=0,
        end_block=0,
    )
    with pytest.raises(ConfigError, match=r"chain id 8453, but node .* chain id 1"):
        read_all(spec)
