"""The `chaintap` command line: one module per verb group, output through `output`."""
