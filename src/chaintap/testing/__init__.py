"""In-memory nodes for testing the engine (and pipelines) without servers.

They implement the same contracts as the real connectors, so the runtime's own
tests exercise exactly the code paths a real run takes.
"""

from chaintap.testing.memory import MemorySink, MemorySource

__all__ = ["MemorySink", "MemorySource"]
