"""Every Solana dataset, for every captured mainnet sample and both encodings, read
through the real source from the replay node and compared with rows computed
independently from the raw JSON (`support.solana_golden`)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.datasets import solana as schemas
from chaintap.sources.solana.extract import extract
from support import solana_golden as golden
from support.solana_replay import SOLANA_DIR, Sample, load_samples, to_json_parsed
from support.solana_replay_fixtures import ReadSolana

SAMPLES = load_samples() if (SOLANA_DIR / "manifest.json").exists() else []
# Each sample in its stored encoding; `json` samples also as the replay renders
# them in jsonParsed (account key objects, loaded keys in the key list).
CASES = [
    pytest.param(sample, encoding, id=f"{sample.file}-{encoding}")
    for sample in SAMPLES
    for encoding in ("json", "jsonParsed")
    if encoding == sample.encoding or sample.encoding == "json"
]


def raw_block(sample: Sample, encoding: str) -> dict[str, Any]:
    """The JSON the replay serves for `sample` in `encoding`."""
    return sample.block if encoding == sample.encoding else to_json_parsed(sample.block)


def plain(table: pa.Table) -> list[dict[str, Any]]:
    """Rows with u256 as ints, `err` decoded, balance changes as tuples."""
    rows = table.to_pylist()
    for row in rows:
        for field in table.schema:
            if u256.is_u256(field.type) and row[field.name] is not None:
                row[field.name] = u256.from_bytes(row[field.name])
        if "err" in row and row["err"] is not None:
            row["err"] = json.loads(row["err"])
        if row.get("balance_changes") is not None:
            row["balance_changes"] = [
                (
                    c["account"],
                    u256.from_bytes(c["before"]),
                    u256.from_bytes(c["after"]),
                )
                for c in row["balance_changes"]
            ]
    return rows


def read_one(
    read_solana: ReadSolana, dataset: str, slot: int, encoding: str
) -> pa.Table:
    batches = read_solana(
        dataset, start_block=slot, end_block=slot, options={"encoding": encoding}
    )
    assert [(b.blocks.start, b.blocks.end) for b in batches] == [(slot, slot)]
    table = batches[0].records
    assert table.schema == schemas.SCHEMAS[dataset]
    return table


@pytest.mark.parametrize(("sample", "encoding"), CASES)
def test_blocks(read_solana: ReadSolana, sample: Sample, encoding: str) -> None:
    table = read_one(read_solana, "blocks", sample.slot, encoding)
    assert plain(table) == [golden.block_row(sample.slot, raw_block(sample, encoding))]


@pytest.mark.parametrize(("sample", "encoding"), CASES)
def test_transactions(read_solana: ReadSolana, sample: Sample, encoding: str) -> None:
    table = read_one(read_solana, "transactions", sample.slot, encoding)
    expected = golden.transaction_rows(sample.slot, raw_block(sample, encoding))
    assert plain(table) == expected


@pytest.mark.parametrize(("sample", "encoding"), CASES)
def test_instructions(read_solana: ReadSolana, sample: Sample, encoding: str) -> None:
    table = read_one(read_solana, "instructions", sample.slot, encoding)
    expected = golden.instruction_rows(sample.slot, raw_block(sample, encoding))
    assert plain(table) == expected


@pytest.mark.parametrize(("sample", "encoding"), CASES)
def test_token_transfers(
    read_solana: ReadSolana, sample: Sample, encoding: str
) -> None:
    table = read_one(read_solana, "token_transfers", sample.slot, encoding)
    expected = golden.transfer_rows(sample.slot, raw_block(sample, encoding))
    assert plain(table) == expected


def test_samples_exercise_the_interesting_cases() -> None:
    """Guards the tests above against passing on empty data."""
    if not SAMPLES:
        pytest.skip("no Solana samples")
    transfers = [r for s in SAMPLES for r in golden.transfer_rows(s.slot, s.block)]
    assert len(transfers) >= 4
    assert any(r["id"].endswith(".1") for r in transfers)  # an inner instruction
    assert any(r["to_owner"] is not None for r in transfers)
    failed = [
        r
        for s in SAMPLES
        for r in golden.transaction_rows(s.slot, s.block)
        if r["status"] == 0
    ]
    assert len(failed) >= 3
    assert {s.encoding for s in SAMPLES} == {"json", "jsonParsed"}


def test_encodings_agree_for_json_samples(read_solana: ReadSolana) -> None:
    """A block read as json and as the replay's jsonParsed rendering gives the same
    transactions, instruction accounts and transfers (loaded keys included)."""
    json_samples = [s for s in SAMPLES if s.encoding == "json"]
    if not json_samples:
        pytest.skip("no json samples")
    for sample in json_samples:
        for dataset in ("transactions", "instructions", "token_transfers"):
            as_json = read_one(read_solana, dataset, sample.slot, "json")
            as_parsed = read_one(read_solana, dataset, sample.slot, "jsonParsed")
            assert as_json.equals(as_parsed), (sample.file, dataset)


def test_versioned_transaction_uses_loaded_addresses(read_solana: ReadSolana) -> None:
    sample = next(s for s in SAMPLES if s.file == "block_with_versioned_tx.json.gz")
    tx = sample.block["transactions"][0]
    loaded = tx["meta"]["loadedAddresses"]
    static = tx["transaction"]["message"]["accountKeys"]

    row = plain(read_one(read_solana, "transactions", sample.slot, "json"))[0]
    assert row["accounts"] == static + loaded["writable"] + loaded["readonly"]
    assert len(row["balance_changes"]) == len(tx["meta"]["preBalances"])

    # The transfer's token account is only reachable through the lookup table.
    transfer = plain(read_one(read_solana, "token_transfers", sample.slot, "json"))[0]
    assert transfer["from_token_account"] in loaded["writable"]
    assert transfer["from_token_account"] not in static


def test_failed_transactions_carry_err_and_no_transfers() -> None:
    """`meta.err` decides the status (the sample whose `status` says Ok but whose
    `err` is set counts as failed), and a failed transaction yields no transfers:
    checked on a real transfer-bearing block with its transaction marked failed."""
    sample = next(s for s in SAMPLES if s.file == "transaction_err.json.gz")
    rows = plain(extract("transactions", [(sample.slot, sample.block)]))
    errs = [tx["meta"]["err"] for tx in sample.block["transactions"]]
    assert [r["err"] for r in rows] == errs
    assert [r["status"] for r in rows] == [1 if e is None else 0 for e in errs]

    source = next(s for s in SAMPLES if s.file == "block_account_deletion.json.gz")
    failed = copy.deepcopy(source.block)
    failed["transactions"][0]["meta"]["err"] = {"InstructionError": [2, "Custom"]}
    assert extract("token_transfers", [(source.slot, source.block)]).num_rows == 2
    assert extract("token_transfers", [(source.slot, failed)]).num_rows == 0
    statuses = extract("instructions", [(source.slot, failed)]).column("status")
    assert set(statuses.to_pylist()) == {0}
