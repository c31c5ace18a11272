"""Session fixtures shared by the whole suite live in `tests/support/`."""

pytest_plugins = [
    "support.postgres_fixtures",
    "support.evm_replay_fixtures",
    "support.anvil_fixtures",
    "support.solana_replay_fixtures",
]
