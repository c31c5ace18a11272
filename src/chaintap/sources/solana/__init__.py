"""Solana datasets (blocks, transactions, instructions, token_transfers) from JSON-RPC.

- `config.py`: the source's options, checked up front;
- `source.py`: `SolanaRpcSource`, which plans slot windows and fetches `getBlock`;
- `extract.py`: pure `getBlock` result → Arrow rows of one dataset;
- `message.py`: one view of a transaction in `json` or `jsonParsed` encoding;
- `tokens.py`: SPL Token / Token-2022 transfer decoding;
- `errors.py`: this connector's errors.
"""
