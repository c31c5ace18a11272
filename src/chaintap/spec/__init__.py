"""Pipeline files: loading YAML with line numbers, validation, the typed model."""
