"""Options of a Solana source, read from its `sources:` entry and checked up front.

Keys under the source (all optional):
- `encoding`: `json` (default) or `jsonParsed`, the getBlock encoding. `json` keeps
  raw instruction data; `jsonParsed` leaves `data`/`accounts` of instructions the
  node decodes null (see `extract.py`).
- `commitment`: `finalized` (default) or `confirmed`. Confirmed slots can still be
  rolled back, and this source does not detect that.
- `wait_for_head`: when a bounded range ends past the node's head, wait for the
  chain to reach it (true) or fail before reading anything (false, default).
- `in_order`: accepted for Turbo compatibility. Batches are always emitted in slot
  order (slots of one batch are fetched in parallel), because the checkpoint cursor
  is "last slot done" and is only correct that way; `false` changes nothing.
- `head_poll_interval_s`: how often to ask for the head while waiting.
- `rpc_max_attempts`: attempts per request (and per "block not available" slot)
  before the run fails.

Block bounds come from the spec: `start_block`/`end_block` (inclusive slots),
`block_ranges` (inclusive windows, ascending and not overlapping), `start_at`
(`latest`, the default when no start is given, or `earliest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaintap.errors import ConfigError
from chaintap.spec.model import SourceSpec
from chaintap.tuning import RPC_MAX_ATTEMPTS, SOLANA_HEAD_POLL_S

ENCODINGS = ("json", "jsonParsed")
COMMITMENTS = ("finalized", "confirmed")
START_AT = ("latest", "earliest")


@dataclass(frozen=True)
class SolanaSourceOptions:
    """The checked options of one Solana source (defaults as documented above)."""

    encoding: str = "json"
    commitment: str = "finalized"
    wait_for_head: bool = False
    in_order: bool = True
    head_poll_interval_s: float = SOLANA_HEAD_POLL_S
    rpc_max_attempts: int = RPC_MAX_ATTEMPTS

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> SolanaSourceOptions:
        """The options of `spec`; one `ConfigError` lists every problem found."""
        problems: list[str] = []
        opts = spec.options
        where = f"sources.{spec.name}"

        def pick(key: str, kind: type, default: Any) -> Any:
            value = opts.get(key, default)
            if not _has_type(value, kind):
                problems.append(
                    f"{where}.{key}: expected {kind.__name__}, got {value!r}"
                )
                return default
            return value

        options = cls(
            encoding=pick("encoding", str, cls.encoding),
            commitment=pick("commitment", str, cls.commitment),
            wait_for_head=pick("wait_for_head", bool, cls.wait_for_head),
            in_order=pick("in_order", bool, cls.in_order),
            head_poll_interval_s=float(
                pick("head_poll_interval_s", float, cls.head_poll_interval_s)
            ),
            rpc_max_attempts=pick("rpc_max_attempts", int, cls.rpc_max_attempts),
        )
        problems.extend(options._choices(where))
        problems.extend(_bounds_problems(spec, where))
        if problems:
            raise ConfigError("; ".join(problems))
        return options

    def _choices(self, where: str) -> list[str]:
        problems: list[str] = []
        if self.encoding not in ENCODINGS:
            problems.append(
                f"{where}.encoding: {self.encoding!r} is not one of "
                + ", ".join(ENCODINGS)
            )
        if self.commitment not in COMMITMENTS:
            problems.append(
                f"{where}.commitment: {self.commitment!r} is not one of "
                + ", ".join(COMMITMENTS)
            )
        if self.head_poll_interval_s <= 0:
            problems.append(f"{where}.head_poll_interval_s: must be above 0")
        if self.rpc_max_attempts < 1:
            problems.append(f"{where}.rpc_max_attempts: must be at least 1")
        return problems


def _has_type(value: Any, kind: type) -> bool:
    """YAML-typed check: a bool is not a number, an int is a float."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _bounds_problems(spec: SourceSpec, where: str) -> list[str]:
    problems: list[str] = []
    if spec.start_at is not None and spec.start_at not in START_AT:
        problems.append(
            f"{where}.start_at: {spec.start_at!r} is not one of " + ", ".join(START_AT)
        )
    if spec.block_ranges and (
        spec.start_block is not None or spec.end_block is not None
    ):
        problems.append(
            f"{where}.block_ranges: give either block_ranges or "
            f"start_block/end_block, not both"
        )
    for i, (earlier, later) in enumerate(
        zip(spec.block_ranges, spec.block_ranges[1:], strict=False)
    ):
        if later.start <= earlier.end:
            problems.append(
                f"{where}.block_ranges[{i + 1}]: window {later} does not come after "
                f"{earlier}; list windows in ascending slot order without overlap"
            )
    if (
        spec.start_block is not None
        and spec.end_block is not None
        and spec.start_block > spec.end_block
    ):
        problems.append(
            f"{where}.end_block: {spec.end_block} is before start_block "
            f"{spec.start_block}"
        )
    return problems
