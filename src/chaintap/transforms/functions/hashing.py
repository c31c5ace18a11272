"""Keccak-256, the hash Ethereum uses for event topics, selectors and storage slots.

This is the original Keccak padding (as in Ethereum), not NIST SHA3-256; the two
give different digests for the same input.
"""

from __future__ import annotations

import binascii
import re

from Crypto.Hash import keccak

_HEX_BYTES = re.compile(r"0[xX](?:[0-9a-fA-F]{2})*")


def keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 digest of `data`."""
    return bytes(keccak.new(data=data, digest_bits=256).digest())


def keccak256_hex(data: bytes) -> str:
    """The Keccak-256 digest of `data` as lowercase `0x` hex (66 characters)."""
    return "0x" + keccak.new(data=data, digest_bits=256).hexdigest()


def keccak256_text(text: str) -> str:
    """`_gs_keccak256` semantics: hash a SQL text value, result as `0x` hex.

    Text that is `0x` followed by an even number of hex digits is taken as the bytes
    it spells (as viem and ethers treat hex strings), so hashed topic values and
    storage keys can be recomputed; any other text is hashed as its UTF-8 bytes, so
    `'Transfer(address,address,uint256)'` gives the event's topic0. The characters
    of a `0x` hex string itself cannot be hashed with this function.
    """
    if _HEX_BYTES.fullmatch(text):
        return keccak256_hex(binascii.unhexlify(text[2:]))
    return keccak256_hex(text.encode("utf-8"))
