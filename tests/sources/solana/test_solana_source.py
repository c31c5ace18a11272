"""The Solana source against the replay node: ranges, skipped slots, windows,
resume, the head, node faults and options. Expected values come from the sample
files and the replay's knobs, never from the code under test."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from chaintap.errors import ConfigError, NodeError, TerminalError
from chaintap.runtime.graph import PipelineGraph
from chaintap.runtime.runner import run_pipeline
from chaintap.sources.solana.errors import BlockUnavailable, HeadBehind
from chaintap.sources.solana.source import SolanaRpcSource
from chaintap.spec.model import BlockRange, PipelineSpec, SinkSpec
from chaintap.testing import MemorySink
from chaintap.tuning import SOLANA_BLOCKS_PER_REQUEST, profile_for
from support.solana_replay import REMAPPED_SLOT, SolanaReplay, load_samples
from support.solana_replay_fixtures import SMALL, ReadSolana, solana_spec

BLOCK = 100_000_000  # block.json.gz, 10 transactions
ERR = REMAPPED_SLOT  # transaction_err.json.gz, 3 transactions
VERSIONED = 154_808_473
DELETION = 195_545_750
PARSED = 241_043_141
# DELETION and PARSED are stored only as jsonParsed; the replay renders the json
# samples in jsonParsed too, so ranges mixing them read in jsonParsed.
PARSED_OPTIONS = {"encoding": "jsonParsed"}


def spans(batches: list) -> list[tuple[int, int]]:
    return [(b.blocks.start, b.blocks.end) for b in batches]


def block_rows(batches: list) -> list[tuple[int, bool]]:
    return [
        (row["slot"], row["skipped"]) for b in batches for row in b.records.to_pylist()
    ]


def tx_count(slot: int) -> int:
    return len(next(s for s in load_samples() if s.slot == slot).block["transactions"])


@pytest.mark.parametrize("code", [-32007, -32009])
def test_skipped_slots_inside_a_range(
    solana_replay: SolanaReplay, read_solana: ReadSolana, code: int
) -> None:
    solana_replay.skipped = [(BLOCK - 2, ERR)]
    solana_replay.skipped_code = code

    batches = read_solana("blocks", start_block=BLOCK - 2, end_block=ERR)
    assert spans(batches) == [
        (BLOCK - 2, BLOCK),
        (BLOCK + 1, BLOCK + 3),
        (BLOCK + 4, ERR),
    ]
    samples = {BLOCK, ERR}
    assert block_rows(batches) == [
        (slot, slot not in samples) for slot in range(BLOCK - 2, ERR + 1)
    ]
    for row in (r for b in batches for r in b.records.to_pylist()):
        if row["skipped"]:
            assert row["id"] == str(row["slot"])
            others = {
                k: v for k, v in row.items() if k not in ("id", "slot", "skipped")
            }
            assert set(others.values()) == {None}

    txs = read_solana("transactions", start_block=BLOCK - 2, end_block=ERR)
    slots = [r["block_slot"] for b in txs for r in b.records.to_pylist()]
    assert slots == [BLOCK] * tx_count(BLOCK) + [ERR] * tx_count(ERR)


def test_block_ranges_read_every_window_in_order(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    solana_replay.skipped = [(BLOCK - 5, ERR), (DELETION - 5, DELETION + 5)]
    windows = (
        BlockRange(BLOCK - 1, BLOCK + 1),
        BlockRange(VERSIONED, VERSIONED),
        BlockRange(DELETION, DELETION + 4),
    )

    batches = read_solana("blocks", block_ranges=windows, options=PARSED_OPTIONS)
    assert spans(batches) == [
        (BLOCK - 1, BLOCK + 1),
        (VERSIONED, VERSIONED),
        (DELETION, DELETION + 2),
        (DELETION + 3, DELETION + 4),
    ]
    samples = {BLOCK, VERSIONED, DELETION}
    expected = [s for w in windows for s in range(w.start, w.end + 1)]
    assert block_rows(batches) == [(s, s not in samples) for s in expected]


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        (
            BLOCK,
            [(BLOCK + 1, BLOCK + 1), (VERSIONED, VERSIONED), (DELETION, DELETION + 2)],
        ),
        (VERSIONED, [(DELETION, DELETION + 2)]),
        (DELETION + 1, [(DELETION + 2, DELETION + 2)]),
        (DELETION + 2, []),
    ],
)
def test_resume_after_cursor_skips_finished_windows(
    solana_replay: SolanaReplay,
    read_solana: ReadSolana,
    cursor: int,
    expected: list[tuple[int, int]],
) -> None:
    solana_replay.skipped = [(BLOCK - 5, ERR), (DELETION - 5, DELETION + 5)]
    windows = (
        BlockRange(BLOCK - 1, BLOCK + 1),
        BlockRange(VERSIONED, VERSIONED),
        BlockRange(DELETION, DELETION + 2),
    )

    batches = read_solana(
        "blocks", cursor=cursor, block_ranges=windows, options=PARSED_OPTIONS
    )
    assert spans(batches) == expected
    asked = [p[0] for m, p in solana_replay.calls if m == "getBlock"]
    if expected:
        assert min(asked) == expected[0][0]
    else:
        assert asked == []


def test_end_beyond_head_fails_before_reading(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    solana_replay.head = VERSIONED
    with pytest.raises(HeadBehind, match=rf"slot {DELETION}.*wait_for_head"):
        read_solana("blocks", start_block=VERSIONED, end_block=DELETION)
    assert not [m for m, _ in solana_replay.calls if m == "getBlock"]


def test_wait_for_head_reads_as_the_chain_advances(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    solana_replay.skipped = [(DELETION - 20, DELETION - 1)]
    solana_replay.head = DELETION - 10
    solana_replay.head_step = 1

    batches = read_solana(
        "blocks",
        start_block=DELETION - 12,
        end_block=DELETION,
        options={
            "wait_for_head": True,
            "head_poll_interval_s": 0.005,
            **PARSED_OPTIONS,
        },
    )
    covered = [s for a, b in spans(batches) for s in range(a, b + 1)]
    assert covered == list(range(DELETION - 12, DELETION + 1))
    assert block_rows(batches)[-1] == (DELETION, False)
    heads = [m for m, _ in solana_replay.calls if m == "getSlot"]
    assert len(heads) >= 10  # it had to wait for the head to move 10 slots
    # Never asked for a slot above the head it knew of.
    assert all(p[0] <= DELETION for m, p in solana_replay.calls if m == "getBlock")


def test_follow_head_without_end_and_stop_on_close(solana_replay: SolanaReplay) -> None:
    solana_replay.skipped = [(PARSED - 10, PARSED - 1)]
    solana_replay.head = PARSED
    source = SolanaRpcSource(
        solana_spec(
            solana_replay.url,
            "blocks",
            start_block=PARSED - 4,
            options={"head_poll_interval_s": 0.01, **PARSED_OPTIONS},
        ),
        SMALL,
    )
    source.open(None)
    assert source.target is None
    reader = source.read()
    first, second = next(reader), next(reader)
    assert spans([first, second]) == [(PARSED - 4, PARSED - 2), (PARSED - 1, PARSED)]

    timer = threading.Timer(0.2, source.close)
    timer.start()
    started = time.monotonic()
    with pytest.raises(StopIteration):
        next(reader)  # waits for a slot past the head until closed
    assert time.monotonic() - started >= 0.15
    timer.join()


def test_head_is_the_last_slot_the_node_gave(solana_replay: SolanaReplay) -> None:
    solana_replay.skipped = [(PARSED - 10, PARSED - 1)]
    solana_replay.head = PARSED - 3
    source = SolanaRpcSource(
        solana_spec(
            solana_replay.url,
            "blocks",
            start_block=PARSED - 4,
            options={"head_poll_interval_s": 0.01, **PARSED_OPTIONS},
        ),
        SMALL,
    )
    try:
        source.open(None)
        assert source.head is None  # following from start_block: not asked yet
        reader = source.read()
        assert spans([next(reader)]) == [(PARSED - 4, PARSED - 3)]
        assert source.head == PARSED - 3

        solana_replay.head = PARSED
        assert spans([next(reader)]) == [(PARSED - 2, PARSED)]
        assert source.head == PARSED
        assert [m for m, _ in solana_replay.calls].count("getSlot") == 2
    finally:
        source.close()


def test_start_at_latest_starts_at_the_head(solana_replay: SolanaReplay) -> None:
    spec = solana_spec(solana_replay.url, "blocks", options=PARSED_OPTIONS)
    source = SolanaRpcSource(spec, SMALL)
    try:
        source.open(None)
        batch = next(source.read())
        assert spans([batch]) == [(PARSED, PARSED)]
        assert block_rows([batch]) == [(PARSED, False)]
    finally:
        source.close()


def test_start_at_earliest_and_target(solana_replay: SolanaReplay) -> None:
    spec = solana_spec(
        solana_replay.url, "blocks", start_at="earliest", end_block=BLOCK
    )
    source = SolanaRpcSource(spec, SMALL)
    try:
        source.open(None)
        assert source.target == BlockRange(BLOCK, BLOCK)
        assert block_rows(list(source.read())) == [(BLOCK, False)]
    finally:
        source.close()


def test_http_faults_are_retried(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    clean = read_solana("transactions", start_block=BLOCK, end_block=BLOCK)
    solana_replay.fail_next(429)
    solana_replay.fail_next(500)
    faulty = read_solana("transactions", start_block=BLOCK, end_block=BLOCK)
    assert faulty[0].records.equals(clean[0].records)
    assert faulty[0].records.num_rows == tx_count(BLOCK)


def test_block_not_available_is_retried_then_served(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    solana_replay.not_available[BLOCK] = 2
    batches = read_solana("blocks", start_block=BLOCK, end_block=BLOCK)
    assert block_rows(batches) == [(BLOCK, False)]
    asked = [p[0] for m, p in solana_replay.calls if m == "getBlock"]
    assert asked == [BLOCK, BLOCK, BLOCK]


def test_block_never_available_is_a_clear_error(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    # BLOCK + 1 is neither a sample nor marked skipped: the node says -32004.
    with pytest.raises(BlockUnavailable, match=rf"slot {BLOCK + 1} after 2 attempts"):
        read_solana(
            "blocks",
            start_block=BLOCK,
            end_block=BLOCK + 1,
            options={"rpc_max_attempts": 2},
        )


def test_other_node_errors_are_terminal(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    """The replay refuses json for a sample stored only as jsonParsed (-32602)."""
    with pytest.raises(TerminalError, match=rf"slot {PARSED}.*-32602"):
        read_solana("blocks", start_block=PARSED, end_block=PARSED)


def test_requests_ask_for_full_v0_blocks_in_small_parallel_batches(
    solana_replay: SolanaReplay, read_solana: ReadSolana
) -> None:
    solana_replay.skipped = [(BLOCK - 20, ERR)]
    profile = profile_for("m")  # rpc_batch_size 100, concurrency 8
    read_solana("transactions", profile=profile, start_block=BLOCK - 15, end_block=ERR)
    blocks = [p for m, p in solana_replay.calls if m == "getBlock"]
    assert sorted(p[0] for p in blocks) == list(range(BLOCK - 15, ERR + 1))
    assert {json_config(p[1]) for p in blocks} == {
        json_config(
            {
                "encoding": "json",
                "maxSupportedTransactionVersion": 0,
                "transactionDetails": "full",
                "rewards": True,
                "commitment": "finalized",
            }
        )
    }
    getblock_requests = solana_replay.request_sizes[1:]  # the first is getSlot
    assert max(getblock_requests) == SOLANA_BLOCKS_PER_REQUEST
    assert sum(getblock_requests) == len(blocks)


def json_config(config: dict) -> str:
    return str(sorted(config.items()))


def test_options_are_checked_together(solana_replay: SolanaReplay) -> None:
    spec = solana_spec(
        solana_replay.url,
        "blocks",
        block_ranges=(BlockRange(10, 20), BlockRange(15, 30)),
        options={"encoding": "base64", "wait_for_head": "yes", "rpc_max_attempts": 0},
    )
    with pytest.raises(ConfigError) as caught:
        SolanaRpcSource(spec, SMALL)
    message = str(caught.value)
    for part in (
        "sources.sol.encoding",
        "sources.sol.wait_for_head",
        "sources.sol.rpc_max_attempts",
        "sources.sol.block_ranges[1]",
    ):
        assert part in message


def test_missing_endpoint_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAINTAP_RPC_SOLANA", raising=False)
    source = SolanaRpcSource(
        solana_spec(None, "blocks", start_block=1, end_block=2), SMALL
    )
    with pytest.raises(ConfigError, match="CHAINTAP_RPC_SOLANA"):
        source.open(None)
    source.close()


def test_endpoint_from_environment(
    solana_replay: SolanaReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINTAP_RPC_SOLANA", solana_replay.url)
    spec = solana_spec(None, "blocks", start_block=BLOCK, end_block=BLOCK)
    source = SolanaRpcSource(spec, SMALL)
    try:
        source.open(None)
        assert block_rows(list(source.read())) == [(BLOCK, False)]
    finally:
        source.close()


def test_job_resumes_after_its_checkpoint(
    solana_replay: SolanaReplay, tmp_path: Path
) -> None:
    """Through the runner: a sink failure in the second window leaves the checkpoint
    after the first; the rerun reads only the second window."""
    solana_replay.skipped = [(BLOCK - 5, ERR), (DELETION - 5, DELETION + 5)]
    source = solana_spec(
        solana_replay.url,
        "blocks",
        block_ranges=(BlockRange(BLOCK - 1, ERR), BlockRange(DELETION, DELETION + 2)),
        options=PARSED_OPTIONS,
    )
    spec = PipelineSpec(
        name="solana-resume",
        resource_size="xs",
        description=None,
        job=True,
        sources={"sol": source},
        transforms={},
        sinks={"out": SinkSpec("out", "memory", "sol")},
    )

    def run(sink: MemorySink) -> None:
        sol = SolanaRpcSource(source, spec.profile)
        graph = PipelineGraph.of(spec, {"sol": sol}, {}, {"out": sink})
        run_pipeline(spec, home=tmp_path, graph=graph)

    failing = MemorySink(spec.sinks["out"], fail_flush_at=DELETION + 1)
    with pytest.raises(NodeError):
        run(failing)
    rerun = MemorySink(spec.sinks["out"])
    run(rerun)

    assert [b for _, b in failing.flushed] == [BlockRange(BLOCK - 1, ERR)]
    assert [b for _, b in rerun.flushed] == [BlockRange(DELETION, DELETION + 2)]
    slots = [
        s for t, _ in failing.flushed + rerun.flushed for s in t["slot"].to_pylist()
    ]
    assert slots == [*range(BLOCK - 1, ERR + 1), *range(DELETION, DELETION + 3)]
