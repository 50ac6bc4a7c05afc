"""The `centaurus` command-line interface (installed as the `centaurus_cli` package)."""
