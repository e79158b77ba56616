"""The `relulab` command line: one module per command."""
