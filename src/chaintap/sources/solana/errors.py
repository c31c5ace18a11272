"""Errors of the Solana source, placed in the chaintap error tree."""

from __future__ import annotations

from chaintap.errors import TerminalError, TransientError


class MalformedBlock(TerminalError):
    """A `getBlock` answer does not have the documented shape; the run stops."""


class BlockUnavailable(TransientError):
    """The node kept answering "block not available" for a slot it should have."""


class HeadBehind(TerminalError):
    """A bounded job asks for slots past the node's head and may not wait for them."""
