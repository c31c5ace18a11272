"""Event ABIs: parse the JSON, name the canonical signature, decode one log.

Accepted JSON: a full contract ABI (a list of entries; only `"type": "event"` entries
are used), a list of events, a single event object, or a build artifact with an
`"abi"` list. Types cover the whole ABI except `fixed`/`ufixed`: address, bool,
intN/uintN, bytesN, bytes, string, `T[]`, `T[k]` and tuples, nested freely.

Decoding is strict so that a log of another shape never passes for this event: the
topic count must be 1 + the number of indexed parameters, every word must fit its
type (zero padding of an address or uintN, 0/1 for bool, a sign-extended intN,
right-padded bytesN), offsets and lengths must stay inside `data`, and an event whose
non-indexed parameters are all static must have `data` of exactly their size. An
indexed parameter of a dynamic, array or tuple type is only present as the Keccak
hash of its encoding; it decodes to that hash as `0x` hex.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from chaintap.transforms.functions.hashing import keccak256_hex

Kind = Literal[
    "address", "bool", "uint", "int", "fixed_bytes", "bytes", "string", "array", "tuple"
]

# Kinds that occupy exactly one 32-byte word and decode straight from it.
VALUE_KINDS: frozenset[str] = frozenset(
    {"address", "bool", "uint", "int", "fixed_bytes"}
)

_PLAIN_KINDS: dict[str, Kind] = {
    "address": "address",
    "bool": "bool",
    "string": "string",
    "bytes": "bytes",
}
_ARRAY_SUFFIX = re.compile(r"^(.*)\[(\d*)\]$")
_INT_TYPE = re.compile(r"^(u?)int(\d*)$")
_FIXED_BYTES_TYPE = re.compile(r"^bytes(\d+)$")
_TOPIC = re.compile(r"^0[xX][0-9a-fA-F]{64}$")
_WORD = 32


class AbiError(ValueError):
    """The ABI JSON cannot be used: not JSON, no events, or an unsupported type."""


class DecodeError(ValueError):
    """A log does not fit the event it was decoded against (wrong shape or data)."""


@dataclass(frozen=True)
class AbiType:
    """One ABI type, parsed; `canonical` is its spelling inside a signature."""

    kind: Kind
    canonical: str
    # Bits for uint/int, byte count for fixed_bytes.
    size: int = 0
    # Arrays: the element type and the fixed length (None for `T[]`).
    item: AbiType | None = None
    length: int | None = None
    components: tuple[AbiType, ...] = ()
    dynamic: bool = field(init=False)
    head_words: int = field(init=False)

    def __post_init__(self) -> None:
        dynamic, words = _layout(self)
        object.__setattr__(self, "dynamic", dynamic)
        object.__setattr__(self, "head_words", words)


def _layout(t: AbiType) -> tuple[bool, int]:
    """Whether `t` is dynamic, and how many head words it takes in a tuple."""
    if t.kind in ("bytes", "string"):
        return True, 1
    if t.kind == "array":
        assert t.item is not None
        if t.length is None or t.item.dynamic:
            return True, 1
        return False, t.length * t.item.head_words
    if t.kind == "tuple":
        if any(c.dynamic for c in t.components):
            return True, 1
        return False, sum(c.head_words for c in t.components)
    return False, 1


@dataclass(frozen=True)
class EventParam:
    name: str
    type: AbiType
    indexed: bool


@dataclass(frozen=True)
class AbiEvent:
    """One event: `signature` is canonical (`Transfer(address,address,uint256)`)."""

    name: str
    params: tuple[EventParam, ...]
    anonymous: bool
    signature: str
    topic0: str

    @property
    def indexed_count(self) -> int:
        return sum(1 for p in self.params if p.indexed)

    @property
    def data_types(self) -> tuple[AbiType, ...]:
        return tuple(p.type for p in self.params if not p.indexed)


@dataclass(frozen=True)
class EventSet:
    """The events of one ABI, indexed by topic0 (anonymous events cannot match)."""

    events: tuple[AbiEvent, ...]
    by_topic0: dict[str, tuple[AbiEvent, ...]]


def parse_type(spec: str, components: Sequence[Any] | None = None) -> AbiType:
    """Parse a type string such as `uint256`, `bytes32[]` or `tuple[2]`.

    `components` are the ABI JSON entries of a tuple's members (needed for `tuple`).
    Raises `AbiError` for a type the decoder does not support.
    """
    spec = spec.strip()
    suffix = _ARRAY_SUFFIX.match(spec)
    if suffix is not None:
        item = parse_type(suffix.group(1), components)
        length = int(suffix.group(2)) if suffix.group(2) else None
        dims = "" if length is None else str(length)
        return AbiType("array", f"{item.canonical}[{dims}]", item=item, length=length)

    if spec == "tuple":
        members = tuple(_param_type(c) for c in components or ())
        canonical = "(" + ",".join(m.canonical for m in members) + ")"
        return AbiType("tuple", canonical, components=members)
    plain = _PLAIN_KINDS.get(spec)
    if plain is not None:
        return AbiType(plain, spec)
    if spec == "function":
        # An external function pointer: 20-byte address + 4-byte selector.
        return AbiType("fixed_bytes", "function", size=24)
    return _parse_sized(spec)


def _parse_sized(spec: str) -> AbiType:
    """intN / uintN / bytesN, with the size checked against the ABI's rules."""
    integer = _INT_TYPE.match(spec)
    if integer is not None:
        bits = int(integer.group(2) or 256)
        if bits % 8 or not 8 <= bits <= 256:
            raise AbiError(f"ABI type {spec!r} has an invalid bit size")
        kind: Kind = "uint" if integer.group(1) else "int"
        return AbiType(kind, f"{kind}{bits}", size=bits)

    fixed = _FIXED_BYTES_TYPE.match(spec)
    if fixed is not None:
        count = int(fixed.group(1))
        if not 1 <= count <= _WORD:
            raise AbiError(f"ABI type {spec!r} has an invalid byte size")
        return AbiType("fixed_bytes", spec, size=count)
    # Not done: fixed/ufixed (Solidity cannot emit them yet). An ABI with such an
    # event is rejected as a whole; the user must drop that event from the JSON.
    raise AbiError(f"ABI type {spec!r} is not supported")


def _param_type(entry: Any) -> AbiType:
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        raise AbiError(f"ABI parameter {_short(entry)} has no 'type'")
    return parse_type(entry["type"], entry.get("components"))


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_event(entry: dict[str, Any]) -> AbiEvent:
    """One `"type": "event"` entry of an ABI."""
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise AbiError(f"ABI event entry {_short(entry)} has no name")
    raw_inputs = entry.get("inputs") or []
    if not isinstance(raw_inputs, list):
        raise AbiError(f"ABI event {name!r}: 'inputs' is not a list")

    params = []
    for raw in raw_inputs:
        param_type = _param_type(raw)
        params.append(
            EventParam(str(raw.get("name") or ""), param_type, bool(raw.get("indexed")))
        )
    signature = name + "(" + ",".join(p.type.canonical for p in params) + ")"
    return AbiEvent(
        name=name,
        params=tuple(params),
        anonymous=bool(entry.get("anonymous")),
        signature=signature,
        topic0=keccak256_hex(signature.encode("ascii")),
    )


def parse_events(abi_json: str) -> EventSet:
    """All events of an ABI JSON text; `AbiError` when it has none or cannot parse."""
    try:
        doc = json.loads(abi_json)
    except json.JSONDecodeError as err:
        raise AbiError(f"ABI is not valid JSON ({err})") from err
    if isinstance(doc, dict):
        entries = doc["abi"] if isinstance(doc.get("abi"), list) else [doc]
    elif isinstance(doc, list):
        entries = doc
    else:
        raise AbiError("ABI JSON must be a list of entries or one event object")

    events = tuple(
        parse_event(e)
        for e in entries
        if isinstance(e, dict) and e.get("type") == "event"
    )
    if not events:
        raise AbiError('ABI has no entry with "type": "event"')
    by_topic0: dict[str, tuple[AbiEvent, ...]] = {}
    for event in events:
        # Not done: anonymous events. They carry no topic0, so they are never
        # matched and their logs decode to NULL; telling them apart would need the
        # emitting address, which the function does not receive.
        if not event.anonymous:
            by_topic0[event.topic0] = (*by_topic0.get(event.topic0, ()), event)
    return EventSet(events, by_topic0)


def split_topics(text: str) -> list[str]:
    """Topics from `raw_logs.topics` (`a,b,c`) or a list rendered as `[a, b, c]`."""
    inner = text.strip().strip("[]")
    return [t.strip().strip("\"'") for t in inner.split(",") if t.strip()]


def decode_log(event: AbiEvent, topics: Sequence[str], data: bytes) -> list[str]:
    """The event's parameters as text, in ABI order; `DecodeError` if the log misfits.

    Text forms: addresses lowercase `0x` hex, integers base 10, bool `true`/`false`,
    bytes `0x` hex, strings as they are (invalid UTF-8 replaced with U+FFFD), arrays
    and tuples as compact JSON arrays whose integers are JSON strings (exact).
    """
    if len(topics) != 1 + event.indexed_count:
        raise DecodeError("topic count does not match the indexed parameters")
    if topics[0].lower() != event.topic0:
        raise DecodeError("topic0 is not this event's")
    values = decode_tuple(event.data_types, data)
    static_size = _WORD * sum(t.head_words for t in event.data_types)
    if not any(t.dynamic for t in event.data_types) and len(data) != static_size:
        raise DecodeError("data length does not match the static parameters")

    out: list[str] = []
    topic_iter = iter(topics[1:])
    value_iter = iter(values)
    for param in event.params:
        if param.indexed:
            out.append(_indexed_text(param.type, next(topic_iter)))
        else:
            out.append(format_text(param.type, next(value_iter)))
    return out


def _indexed_text(t: AbiType, topic: str) -> str:
    if not _TOPIC.match(topic):
        raise DecodeError("topic is not 32 bytes of hex")
    if t.kind in VALUE_KINDS:
        return format_text(t, decode_word(t, binascii.unhexlify(topic[2:])))
    return topic.lower()


def decode_tuple(types: Sequence[AbiType], data: bytes) -> list[Any]:
    """ABI-decode `data` as the tuple `types` (the non-indexed part of a log)."""
    return _decode_sequence(types, data, 0)


def _decode_sequence(types: Sequence[AbiType], data: bytes, base: int) -> list[Any]:
    out: list[Any] = []
    head = base
    for t in types:
        if t.dynamic:
            start = base + _read_uint(data, head)
            if start > len(data):
                raise DecodeError("offset points past the end of data")
            out.append(_decode_at(t, data, start))
        else:
            out.append(_decode_at(t, data, head))
        head += _WORD * t.head_words
    return out


def _decode_at(t: AbiType, data: bytes, pos: int) -> Any:
    """Decode `t` whose encoding starts at byte `pos` of `data`."""
    if t.kind in VALUE_KINDS:
        return decode_word(t, _read_word(data, pos))
    if t.kind in ("bytes", "string"):
        size = _read_uint(data, pos)
        if pos + _WORD + size > len(data):
            raise DecodeError("byte string runs past the end of data")
        raw = data[pos + _WORD : pos + _WORD + size]
        return raw.decode("utf-8", errors="replace") if t.kind == "string" else raw

    if t.kind == "array":
        assert t.item is not None
        count = t.length
        if count is None:
            count = _read_uint(data, pos)
            pos += _WORD
        # Each element takes at least one head word: bounds a forged huge length.
        if count * _WORD * t.item.head_words > len(data) - pos:
            raise DecodeError("array length runs past the end of data")
        return _decode_sequence([t.item] * count, data, pos)
    return _decode_sequence(t.components, data, pos)


def _read_word(data: bytes, pos: int) -> bytes:
    if pos + _WORD > len(data):
        raise DecodeError("data ends inside a 32-byte word")
    return data[pos : pos + _WORD]


def _read_uint(data: bytes, pos: int) -> int:
    return int.from_bytes(_read_word(data, pos), "big")


def decode_word(t: AbiType, word: bytes) -> Any:
    """One 32-byte word as the value type `t`; `DecodeError` if it does not fit."""
    value = int.from_bytes(word, "big")
    if t.kind == "address":
        if value >> 160:
            raise DecodeError("address word has non-zero padding")
        return "0x" + word[12:].hex()
    if t.kind == "bool":
        if value > 1:
            raise DecodeError("bool word is neither 0 nor 1")
        return value == 1
    if t.kind == "uint":
        if value >> t.size:
            raise DecodeError(f"value does not fit uint{t.size}")
        return value

    if t.kind == "int":
        if value >> 255:
            value -= 1 << 256
        if not -(1 << (t.size - 1)) <= value < 1 << (t.size - 1):
            raise DecodeError(f"value does not fit int{t.size}")
        return value
    if any(word[t.size :]):
        raise DecodeError(f"bytes{t.size} word has non-zero padding")
    return "0x" + word[: t.size].hex()


def format_text(t: AbiType, value: Any) -> str:
    """A decoded value as one `event_params` entry (see `decode_log`)."""
    if t.kind == "bool":
        return "true" if value else "false"
    if t.kind in ("uint", "int"):
        return str(value)
    if t.kind == "bytes":
        return "0x" + bytes(value).hex()
    if t.kind in ("array", "tuple"):
        return json.dumps(_json_value(t, value), separators=(",", ":"))
    return str(value)


def _json_value(t: AbiType, value: Any) -> Any:
    if t.kind == "array":
        assert t.item is not None
        item = t.item
        return [_json_value(item, v) for v in value]
    if t.kind == "tuple":
        return [_json_value(c, v) for c, v in zip(t.components, value, strict=True)]
    if t.kind == "bool":
        return bool(value)
    return format_text(t, value)
