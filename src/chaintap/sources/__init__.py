"""Sources: where dataset rows come from (JSON-RPC nodes, archives)."""
