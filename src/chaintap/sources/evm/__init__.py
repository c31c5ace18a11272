"""The EVM JSON-RPC source: blocks, transactions, logs and ERC-20 transfers.

`extract` turns node answers into Arrow rows (pure), `fetch` decides which calls
fetch a block range and checks the answers agree, `source` plans ranges, runs the
fetches concurrently and yields batches in block order.
"""

from chaintap.sources.evm.source import EvmRpcSource

__all__ = ["EvmRpcSource"]
