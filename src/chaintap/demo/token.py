"""The demo's ERC-20 token: its compiled artifact and the few ABI encodings it needs.

The contract source is `contracts/ChaintapToken.sol` at the repository root; its ABI
and creation bytecode are compiled ahead of time by `scripts/compile_contract.mjs`
and shipped as `chaintap/demo/contracts/erc20.json`, so running the demo needs no
Solidity compiler. Only the static types the demo calls with (address, uint256,
string) are encoded here; this is not a general ABI codec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from Crypto.Hash import keccak

from chaintap.errors import TerminalError

ARTIFACT_RESOURCE = "contracts/erc20.json"
WORD = 32


def keccak256(data: bytes) -> bytes:
    """The Keccak-256 digest Ethereum uses (not NIST SHA3-256)."""
    digest = keccak.new(digest_bits=256)
    digest.update(data)
    return digest.digest()


def event_topic(signature: str) -> str:
    """topic0 of an event, e.g. `Transfer(address,address,uint256)`, as 0x-hex."""
    return "0x" + keccak256(signature.encode()).hex()


def selector(signature: str) -> str:
    """The 4-byte function selector of `signature`, as 8 hex digits without 0x."""
    return keccak256(signature.encode())[:4].hex()


TRANSFER_TOPIC = event_topic("Transfer(address,address,uint256)")
APPROVAL_TOPIC = event_topic("Approval(address,address,uint256)")


def encode_uint(value: int) -> str:
    """One ABI word (64 hex digits) holding an unsigned integer below 2**256."""
    if value < 0 or value >= 1 << 256:
        raise ValueError(f"{value} does not fit a uint256")
    return value.to_bytes(WORD, "big").hex()


def encode_address(address: str) -> str:
    """One ABI word holding a 20-byte address given as 0x-hex."""
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not a 20-byte address")
    return raw.rjust(WORD, b"\0").hex()


def encode_strings(*values: str) -> str:
    """The ABI encoding of a tuple of `string`s: offsets first, then length + data."""
    heads: list[str] = []
    tails: list[str] = []
    offset = WORD * len(values)
    for value in values:
        raw = value.encode()
        padded = raw.ljust(-(-len(raw) // WORD) * WORD, b"\0")
        heads.append(encode_uint(offset))
        tails.append(encode_uint(len(raw)) + padded.hex())
        offset += WORD + len(padded)
    return "".join(heads) + "".join(tails)


def call_data(signature: str, *words: str) -> str:
    """0x-hex call data: the selector of `signature` followed by encoded words."""
    return "0x" + selector(signature) + "".join(words)


def topic_address(topic: str) -> str:
    """The address held in an indexed-address topic (its last 20 bytes), lowercase."""
    return "0x" + topic[-40:].lower()


@dataclass(frozen=True)
class TokenArtifact:
    """The compiled token: ABI, creation bytecode and where they came from."""

    contract: str
    compiler: str
    source_sha256: str
    abi: list[dict[str, Any]]
    bytecode: str

    def deploy_data(self, name: str, symbol: str) -> str:
        """Creation code followed by the encoded constructor arguments."""
        return self.bytecode + encode_strings(name, symbol)

    @property
    def abi_json(self) -> str:
        """The ABI as compact JSON, the form `evm_log_decode` takes."""
        return json.dumps(self.abi, separators=(",", ":"))


def load_token_artifact() -> TokenArtifact:
    """Read the shipped artifact; a missing or malformed one is a packaging fault."""
    try:
        text = (resources.files("chaintap.demo") / ARTIFACT_RESOURCE).read_text()
        data = json.loads(text)
        return TokenArtifact(
            contract=str(data["contract"]),
            compiler=str(data["compiler"]),
            source_sha256=str(data["source_sha256"]),
            abi=list(data["abi"]),
            bytecode=str(data["bytecode"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TerminalError(
            f"the demo token artifact chaintap/demo/{ARTIFACT_RESOURCE} is missing "
            f"or malformed ({err}); reinstall chaintap, or regenerate it with "
            f"`node scripts/compile_contract.mjs` in a source checkout"
        ) from err
