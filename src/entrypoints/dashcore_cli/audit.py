"""``dashcore audit verify``: recompute every audit hash chain."""

from __future__ import annotations

import click

from dashcore.application.verify_audit_chain import AuditVerification, VerifyAuditChain
from dashcore_app import Dashcore
from dashcore_cli.context import load_settings, require_database, run

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """Inspect the audit trail."""


@audit.command()
def verify() -> None:
    """Exit 0 if every chain verifies; else name the first broken event and exit 1."""
    settings = require_database(load_settings())

    async def work() -> AuditVerification:
        async with Dashcore.open(settings) as core, core.scope() as scope:
            return await (await scope.get(VerifyAuditChain))()

    result = run(work())
    if result.intact:
        click.echo(
            f"audit chain intact: {result.events_checked} event(s) in "
            f"{result.chains_checked} chain(s)"
        )
        return
    broken = result.first_break
    assert broken is not None
    event = f" event {broken.event_id}" if broken.event_id else ""
    click.echo(
        f"audit chain BROKEN in chain {broken.chain!r} at seq {broken.seq}{event}: {broken.reason}",
        err=True,
    )
    raise SystemExit(1)
