"""Event ABI parsing: canonical signatures, topic0, the accepted JSON shapes, errors."""

from __future__ import annotations

import json

import pytest

from chaintap.transforms.functions import abi
from transforms.helpers import (
    APPROVAL_TOPIC,
    ERC20_APPROVAL,
    ERC20_TRANSFER,
    TRANSFER_TOPIC,
)


def test_erc20_topic0_matches_the_known_hashes() -> None:
    events = abi.parse_events(json.dumps([ERC20_TRANSFER, ERC20_APPROVAL])).events
    assert [e.signature for e in events] == [
        "Transfer(address,address,uint256)",
        "Approval(address,address,uint256)",
    ]
    assert [e.topic0 for e in events] == [TRANSFER_TOPIC, APPROVAL_TOPIC]


def test_canonical_signature_of_tuples_arrays_and_aliases() -> None:
    event = {
        "type": "event",
        "name": "Swap",
        "inputs": [
            {"name": "amount", "type": "uint", "indexed": False},
            {"name": "delta", "type": "int", "indexed": False},
            {
                "name": "legs",
                "type": "tuple[2][]",
                "indexed": False,
                "components": [
                    {"name": "token", "type": "address"},
                    {
                        "name": "hops",
                        "type": "tuple[]",
                        "components": [{"name": "fee", "type": "uint24"}],
                    },
                ],
            },
            {"name": "tag", "type": "bytes32", "indexed": True},
        ],
    }
    parsed = abi.parse_event(event)
    assert parsed.signature == "Swap(uint256,int256,(address,(uint24)[])[2][],bytes32)"
    assert parsed.indexed_count == 1
    legs = parsed.params[2].type
    assert legs.dynamic and legs.kind == "array" and legs.length is None


@pytest.mark.parametrize(
    "document",
    [
        [ERC20_TRANSFER],
        ERC20_TRANSFER,
        {"contractName": "Token", "abi": [ERC20_TRANSFER, {"type": "fallback"}]},
    ],
    ids=["list", "single event", "artifact"],
)
def test_accepted_json_shapes(document: object) -> None:
    events = abi.parse_events(json.dumps(document))
    assert [e.topic0 for e in events.events] == [TRANSFER_TOPIC]
    assert list(events.by_topic0) == [TRANSFER_TOPIC]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[{", "not valid JSON"),
        ('[{"type": "function", "name": "f"}]', "no entry"),
        ("42", "must be a list"),
        ('[{"type": "event", "inputs": []}]', "has no name"),
        (
            '[{"type": "event", "name": "E", "inputs": [{"type": "fixed128x18"}]}]',
            "not supported",
        ),
        ('[{"type": "event", "name": "E", "inputs": [{"type": "uint7"}]}]', "bit size"),
        (
            '[{"type": "event", "name": "E", "inputs": [{"type": "bytes33"}]}]',
            "byte size",
        ),
        ('[{"type": "event", "name": "E", "inputs": [{"name": "x"}]}]', "no 'type'"),
        ('[{"type": "event", "name": "E", "inputs": ["uint256"]}]', "no 'type'"),
    ],
)
def test_unusable_abis_say_why(text: str, reason: str) -> None:
    with pytest.raises(abi.AbiError, match=reason):
        abi.parse_events(text)


def test_split_topics_reads_both_renderings() -> None:
    assert abi.split_topics("0xa,0xb") == ["0xa", "0xb"]
    assert abi.split_topics("[0xa, 0xb]") == ["0xa", "0xb"]
    assert abi.split_topics("") == []
