"""The consent step of a browser login: auto-approve, auto-deny, or a one-click page.

The page's form posts back to its own URL (query string included), so it works wherever the
sandbox is mounted. Every value shown on the page is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType

from dashcore_brokers.sandbox._wire import redirect
from dashcore_brokers.sandbox.settings import ConsentMode

__all__ = ["consent_response"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{broker} sandbox: authorize {app}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:4rem auto}}
button{{font-size:1.1rem;padding:.5rem 1.5rem;margin-right:1rem}}</style></head>
<body><h1>{broker} (sandbox)</h1>
<p>Signed in as <strong>{user}</strong>.</p>
<p><strong>{app}</strong> asks to access your account.</p>
<form method="post">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
<p><small>Simulated broker: no real account, no real money.</small></p>
</body></html>
"""


async def consent_response(
    request: Request[Any, Any, Any],
    mode: ConsentMode,
    *,
    broker: str,
    app_name: str,
    user_name: str,
    approve: Callable[[], str],
    deny: Callable[[], str],
) -> Response[Any]:
    """Answer a consent request: a redirect to ``approve()`` or ``deny()``, or the page.

    A POST carries the person's click; a GET follows ``mode``.
    """
    if request.method == "POST":
        form = await request.form()
        approved = form.get("decision") == "approve"
    elif mode is ConsentMode.PAGE:
        page = _PAGE.format(broker=escape(broker), app=escape(app_name), user=escape(user_name))
        return Response(
            content=page,
            status_code=200,
            media_type=MediaType.HTML,
            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
        )
    else:
        approved = mode is ConsentMode.APPROVE
    return redirect(approve() if approved else deny())
