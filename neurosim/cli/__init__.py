"""Command-line interface (``neurosim --help``)."""
