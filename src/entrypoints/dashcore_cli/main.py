"""The ``dashcore`` command line."""

from __future__ import annotations

import click

from dashcore_cli.audit import audit
from dashcore_cli.db import db
from dashcore_cli.exports import export
from dashcore_cli.keys import keys
from dashcore_cli.migrate import migrate
from dashcore_cli.sandbox import sandbox
from dashcore_cli.serve import serve
from dashcore_cli.sync import sync
from dashcore_cli.users import users
from dashcore_cli.worker import jobs, worker

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dashcore")
def cli() -> None:
    """dashcore: financial-data aggregation and brokerage trading core."""


cli.add_command(serve)
cli.add_command(migrate)
cli.add_command(db)
cli.add_command(keys)
cli.add_command(audit)
cli.add_command(users)
cli.add_command(sandbox)
cli.add_command(worker)
cli.add_command(jobs)
cli.add_command(export)
cli.add_command(sync)
