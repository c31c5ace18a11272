"""Sinks: where pipeline rows land (Postgres, files, stdout, nowhere)."""
