"""`python -m chaintap`: the same as the `chaintap` command."""

from chaintap.cli.main import main

main()
