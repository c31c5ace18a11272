"""SQL functions for on-chain data, registered on every transform's session.

- `evm_log_decode(abi_json, topics, data)`, also `_gs_log_decode` and
  `evm_decode_log`: a struct {name, event_signature, event_params, signature} or
  NULL (see `evm_decode`). `decoded.event_params[1]` is the first parameter.
- `_gs_keccak256(text)`: Keccak-256 as `0x` hex; `0x` hex input is hashed as the
  bytes it spells, other text as UTF-8 (see `hashing.keccak256_text`).
- `to_u256(x)`, `u256_to_string(u)`, `u256_add/sub/mul/div/mod(a, b)`: exact
  uint256 arithmetic on `fixed_size_binary(32)`; impossible results are NULL (see
  `u256`).

`registry.register_functions(ctx)` puts all of them on a DataFusion session.
"""
