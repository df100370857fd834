"""`python -m bench`: the harness's command line."""

from bench.cli import main

main()
