"""`python -m streams` is the `dealpulse` command (the demo starts workers this way)."""

from streams.cli import main

main()
