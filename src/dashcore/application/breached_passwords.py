"""Refusing new passwords known from data breaches (security.md PW-3).

Rules:
- Every new password (registration, change, reset, an administrator's) is asked about once
  the local policy (length, the shipped common-password list) has accepted it; a password the
  policy refuses is never sent anywhere. Login never asks: it verifies what was sent.
- A password seen in breaches at least ``threshold`` times (1 by default) is refused with
  ``InvalidInput`` ``password_breached`` (422, field ``password``), the same family as
  ``password_too_common``. The message says what to do, not where the password was seen.
- When the breach service cannot answer (outage, timeout, an unreadable answer) the password
  is accepted on the local list alone: that is PW-3's fallback, and it is never silent. An audit
  event ``password_breach_check_unavailable`` (outcome ``error``, the flow in ``purpose``, no
  password and no part of its hash) is recorded and committed at once, so it stays whatever
  the request does next and no transaction is left open while the password is hashed.
"""

from __future__ import annotations

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import InvalidInput
from dashcore.ports.passwords import BreachedPasswords
from dashcore.ports.uow import UnitOfWork

__all__ = ["BreachedPasswordCheck"]


class BreachedPasswordCheck:
    def __init__(
        self,
        breaches: BreachedPasswords,
        audit: AuditTrail,
        uow: UnitOfWork,
        *,
        threshold: int = 1,
    ) -> None:
        if threshold < 1:
            raise ValueError("a breached-password threshold is at least 1")
        self._breaches = breaches
        self._audit = audit
        self._uow = uow
        self._threshold = threshold

    async def refuse_breached(
        self,
        password: str,
        caller: CallerContext,
        *,
        purpose: str,
        target: str | None = None,
    ) -> None:
        """Raise ``InvalidInput(password_breached)`` if ``password`` (the NFKC form the local
        policy returned) is known from breaches; audit and accept it if that cannot be told.

        ``purpose`` names the flow (``registration``, ``password_change``, ``password_reset``,
        ``admin_creation``) and ``target`` the account, when there is one, in the audit event.
        """
        seen = await self._breaches.times_seen(password)
        if seen is None:
            await self._audit.record(
                "password_breach_check_unavailable",
                caller=caller,
                outcome=AuditOutcome.ERROR,
                target=target,
                metadata={"purpose": purpose, "fallback": "local_list"},
            )
            await self._uow.commit()
            return
        if seen >= self._threshold:
            raise InvalidInput(
                "This password has appeared in a data breach, so attackers try it; "
                "choose another one.",
                code="password_breached",
                field="password",
            )
