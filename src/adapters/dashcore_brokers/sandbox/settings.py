"""Behaviour switches of a sandbox that a test (Python) or a person (HTTP) may flip at any time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ConsentMode", "SandboxSettings"]


class ConsentMode(StrEnum):
    """What the consent (login) page does when a user is sent to it.

    ``APPROVE`` redirects back at once with a code (tests); ``DENY`` redirects back with the
    broker's refusal; ``PAGE`` shows a one-click Approve / Deny page (people).
    """

    APPROVE = "approve"
    DENY = "deny"
    PAGE = "page"


@dataclass(slots=True)
class SandboxSettings:
    """Behaviour switches a test or a person may flip at any time.

    ``rotate_refresh_tokens``: a refresh answers with a new refresh token and retires the old one
    (``True``), or hands back the same refresh token (``False``).
    """

    consent: ConsentMode = ConsentMode.APPROVE
    rotate_refresh_tokens: bool = False
