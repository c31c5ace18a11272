"""`_gs_keccak256` against published Keccak-256 vectors."""

from __future__ import annotations

import pyarrow as pa

from chaintap.spec.model import TransformSpec
from chaintap.transforms.functions.hashing import keccak256, keccak256_hex
from chaintap.transforms.sql import SqlTransform

# Published vectors: the empty string, "abc", and Ethereum's best-known topic0s.
VECTORS = {
    "": "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    "abc": "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
    "Transfer(address,address,uint256)": (
        "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    ),
    "Approval(address,address,uint256)": (
        "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
    ),
}


def run(texts: list[str | None]) -> list[str | None]:
    table = pa.table({"s": pa.array(texts, pa.string())})
    spec = TransformSpec(
        "hash", "sql", None, "SELECT _gs_keccak256(s) AS h FROM t", ("t",)
    )
    transform = SqlTransform(spec)
    transform.open({"t": table.schema})
    return transform.process({"t": table}).column("h").to_pylist()


def test_text_is_hashed_as_utf8() -> None:
    assert run([*VECTORS, None]) == [*VECTORS.values(), None]


def test_0x_hex_is_hashed_as_the_bytes_it_spells() -> None:
    # "0x" + hex of "abc" hashes like "abc"; "0x" alone like the empty string.
    assert run(["0x616263", "0X616263", "0x"]) == [
        VECTORS["abc"],
        VECTORS["abc"],
        VECTORS[""],
    ]
    # Odd-length or non-hex text after 0x is plain text.
    assert run(["0x616", "0xzz"]) == [keccak256_hex(b"0x616"), keccak256_hex(b"0xzz")]


def test_keccak_is_not_sha3() -> None:
    assert (
        keccak256(b"").hex()
        != "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
    )
