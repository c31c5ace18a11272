"""The replay node answers like a Solana node: checked with plain HTTP calls, so the
source tests can rely on it."""

from __future__ import annotations

from typing import Any

import httpx

from support.solana_replay import REMAPPED_SLOT, SolanaReplay

FULL_V0 = {"maxSupportedTransactionVersion": 0, "transactionDetails": "full"}


def post(replay: SolanaReplay, body: Any) -> httpx.Response:
    return httpx.post(replay.url, json=body, timeout=5)


def call(method: str, params: list[Any], id_: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def test_each_sample_has_its_own_slot(solana_replay: SolanaReplay) -> None:
    files = {s.slot: s.file for s in solana_replay.samples.values()}
    assert len(files) == 5
    assert files[100_000_000] == "block.json.gz"
    assert files[REMAPPED_SLOT] == "transaction_err.json.gz"

    answers = post(
        solana_replay,
        [
            call("getBlock", [100_000_000, FULL_V0], 1),
            call("getBlock", [REMAPPED_SLOT, FULL_V0], 2),
        ],
    ).json()
    by_id = {a["id"]: a["result"] for a in answers}
    assert len(by_id[1]["transactions"]) == 10
    assert len(by_id[2]["transactions"]) == 3


def test_head_methods_and_missing_slots(solana_replay: SolanaReplay) -> None:
    head = max(solana_replay.samples)
    assert post(solana_replay, call("getSlot", [])).json()["result"] == head
    height = solana_replay.samples[head].block["blockHeight"]
    assert post(solana_replay, call("getBlockHeight", [])).json()["result"] == height
    first = post(solana_replay, call("getFirstAvailableBlock", [])).json()
    assert first["result"] == min(solana_replay.samples)

    solana_replay.skipped = [(5, 6)]
    solana_replay.skipped_code = -32007
    errors = [
        post(solana_replay, call("getBlock", [slot, FULL_V0])).json()["error"]["code"]
        for slot in (5, 7, head + 1)
    ]
    assert errors == [-32007, -32004, -32004]


def test_encodings_and_versions(solana_replay: SolanaReplay) -> None:
    parsed_only = next(
        s.slot for s in solana_replay.samples.values() if s.encoding == "jsonParsed"
    )
    refused = post(
        solana_replay, call("getBlock", [parsed_only, {**FULL_V0, "encoding": "json"}])
    ).json()
    assert refused["error"]["code"] == -32602

    rendered = post(
        solana_replay,
        call("getBlock", [154_808_473, {**FULL_V0, "encoding": "jsonParsed"}]),
    ).json()["result"]
    keys = rendered["transactions"][0]["transaction"]["message"]["accountKeys"]
    assert {k["source"] for k in keys} == {"transaction", "lookupTable"}
    assert "loadedAddresses" not in rendered["transactions"][0]["meta"]

    no_version = post(solana_replay, call("getBlock", [154_808_473, {}])).json()
    assert no_version["error"]["code"] == -32015


def test_fault_knob(solana_replay: SolanaReplay) -> None:
    solana_replay.fail_next(429)
    assert post(solana_replay, call("getSlot", [])).status_code == 429
    assert post(solana_replay, call("getSlot", [])).status_code == 200
