"""The ``dashcore`` command."""

from dashcore_cli.main import cli

__all__ = ["cli"]
