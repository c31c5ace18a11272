"""The operation column and `confirmations`, on the replay server's mainnet blocks."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from chaintap.errors import ConfigError, TerminalError
from chaintap.sources.evm import EvmRpcSource
from chaintap.sources.evm.source import follows_head
from chaintap.spec.model import BlockRange
from chaintap.tuning import profile_for
from support.evm_expected import batch_rows, expected_rows, read_all, source_spec
from support.evm_replay import EvmReplayServer

SMALL = 13998626  # 7 transactions, 15 logs


@pytest.mark.parametrize(
    ("fields", "follows"),
    [
        ({"start_block": SMALL}, True),
        ({"start_block": SMALL, "end_block": SMALL}, False),
        ({"filter": f"block_number BETWEEN {SMALL} AND {SMALL + 1}"}, False),
        ({"filter": f"block_number >= {SMALL}"}, True),
    ],
)
def test_only_a_source_without_an_end_carries_the_operation_column(
    fields: dict[str, Any], follows: bool
) -> None:
    spec = source_spec("http://127.0.0.1:1/", "raw_logs", **fields)
    schema = EvmRpcSource(spec, profile_for("xs")).schema
    plain = spec.dataset.dataset.schema

    assert follows_head(spec) is follows
    if follows:
        assert schema.names == [*plain.names, "_gs_op"]
        assert schema.field("_gs_op").type == pa.string()
    else:
        assert schema == plain


def test_a_bounded_job_emits_the_plain_rows(evm_replay: EvmReplayServer) -> None:
    spec = source_spec(evm_replay.url, "raw_logs", start_block=SMALL, end_block=SMALL)
    batches = read_all(spec)
    assert all("_gs_op" not in b.records.column_names for b in batches)
    assert batch_rows(batches) == expected_rows("raw_logs", [SMALL])


def test_confirmations_start_a_following_source_that_deep(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.head = SMALL + 2
    spec = source_spec(evm_replay.url, "raw_logs", options={"confirmations": 2})
    source = EvmRpcSource(spec, profile_for("xs"))
    try:
        source.open(None)
        first = next(source.read())
    finally:
        source.close()
    assert first.blocks == BlockRange(SMALL, SMALL)
    expected = [{**row, "_gs_op": "i"} for row in expected_rows("raw_logs", [SMALL])]
    assert batch_rows([first]) == expected


def test_a_bounded_end_within_the_confirmations_is_past_the_head(
    evm_replay: EvmReplayServer,
) -> None:
    evm_replay.head = SMALL
    spec = source_spec(
        evm_replay.url,
        "blocks",
        start_block=SMALL,
        end_block=SMALL,
        options={"confirmations": 1},
    )
    with pytest.raises(TerminalError, match=f"head {SMALL} minus 1 confirmations"):
        read_all(spec)


@pytest.mark.parametrize("value", [-1, True, 1.5, "12"])
def test_confirmations_must_be_a_whole_number(value: Any) -> None:
    spec = source_spec(None, "blocks", options={"confirmations": value})
    with pytest.raises(ConfigError, match="confirmations must be a whole number"):
        EvmRpcSource(spec, profile_for("xs"))
