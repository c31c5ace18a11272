"""`chaintap demo`: a local anvil node, a real ERC-20 workload, the example pipelines.

- `anvil`: find, start and stop a throwaway anvil node on 127.0.0.1;
- `token`: the precompiled demo ERC-20 and the ABI encodings the workload needs;
- `workload`: deploy the token, mint, transfer, and read back what was emitted;
- `run`: run `examples/demo/*.yaml` against the node and summarise what landed.
"""
