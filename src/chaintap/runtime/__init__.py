"""Running pipelines: wiring nodes, streaming batches, checkpointing."""
