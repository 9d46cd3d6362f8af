"""Embedding dashcore in another service: use cases without HTTP.

Run it from anywhere:  python examples/embed.py
It builds the core on a throw-away SQLite database, seals a secret in the vault, records an
audit event in the same unit of work, commits, and verifies the audit chain.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore import CallerContext
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.secrets import SecretKeeper
from dashcore.application.verify_audit_chain import VerifyAuditChain
from dashcore.ports.uow import UnitOfWork
from dashcore_app import Dashcore, Settings
from dashcore_security import KeyRing
from dashcore_sql import migrate


async def main(data_dir: Path) -> None:
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir}/example.db",
        vault_keys=KeyRing.generate().to_env_value(),
    )
    async with Dashcore.open(settings) as core:
        await migrate.upgrade(await core.get(AsyncEngine), "head")

        caller = CallerContext(actor="service:example")
        async with core.scope() as scope:  # one unit of work
            keeper = await scope.get(SecretKeeper)
            await keeper.store("user:42", "broker_token", b"s3cr3t-provider-token")
            await (await scope.get(AuditTrail)).record(
                "broker_token_stored", caller=caller, target="user:42"
            )
            await (await scope.get(UnitOfWork)).commit()

        async with core.scope() as scope:
            token = await (await scope.get(SecretKeeper)).reveal("user:42", "broker_token")
            verification = await (await scope.get(VerifyAuditChain))()

    print(f"secret opened: {len(token)} bytes")
    print(f"audit chain intact: {verification.intact} ({verification.events_checked} event)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(main(Path(directory)))
