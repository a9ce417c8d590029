"""`python -m sequence` == the `sequence` command."""

from sequence.cli.main import main

main()
