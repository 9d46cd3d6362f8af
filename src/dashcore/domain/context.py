"""Who is asking, from where: facts about the caller that audit events record."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["CallerContext"]


@dataclass(frozen=True, slots=True)
class CallerContext:
    """The actor and transport facts of one request or job (all optional for system jobs)."""

    actor: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def with_actor(self, actor: str) -> CallerContext:
        """The same request, attributed to ``actor`` (e.g. once a login established who)."""
        return replace(self, actor=actor)


SYSTEM = CallerContext()
