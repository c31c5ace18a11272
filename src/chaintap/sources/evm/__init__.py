"""The EVM JSON-RPC source: blocks, transactions, logs and ERC-20 transfers.

`extract` turns node answers into Arrow rows (pure), `fetch` decides which calls
fetch a block range and checks the answers agree, `source` plans ranges, runs the
fetches concurrently and yields batches in block order. Following the head,
`reorg` remembers what was emitted lately and `follow` compares it with the
node's chain, so the source can retract the rows of blocks a reorg replaced.
"""

from chaintap.sources.evm.source import EvmRpcSource

__all__ = ["EvmRpcSource"]
