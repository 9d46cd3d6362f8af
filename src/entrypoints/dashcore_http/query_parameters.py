"""Unknown query parameters are refused on the API: a typo never widens a listing.

A mistyped filter (``?acount_id=…``) would otherwise be ignored, and the answer would hold
every account's rows where the client asked for one. So every API route refuses a query
parameter it does not declare: 422 ``invalid_input``, one error per unknown name (``source``
``query``), the message listing the names the route takes. Likewise a parameter that takes one
value given twice (``?symbols=A&symbols=B``, ``?limit=5&limit=500``) is refused, naming it:
keeping either value would silently drop the other. List parameters (``?status=a&status=b``)
repeat freely.

Routes that third parties call take any query (``opt={OPEN_QUERY: True}``, which the
authentication's ``CALLED_BY_PROVIDERS`` includes): the providers' OAuth callback (each broker
adds its own parameters) and the broker webhooks. Routes outside
``/api/v1`` (liveness, readiness, the JWKS, the docs) are not checked either: probes and
scrapers may add their own.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler

__all__ = ["OPEN_QUERY", "DeclaredQueries"]

OPEN_QUERY: Final = "open_query"
"""The ``opt`` key of a route that takes any query parameter (``opt={OPEN_QUERY: True}``)."""


class DeclaredQueries:
    """The query parameters each route declares (its own and its dependencies'), learnt from
    Litestar's model of the route the first time it is called."""

    def __init__(self) -> None:
        self._declared: dict[HTTPRouteHandler, dict[str, bool]] = {}
        """Per route: each query parameter's name → whether it takes a list of values."""

    def check(self, request: Request[Any, Any, Any]) -> None:
        """422 ``invalid_input`` naming each query parameter the route does not declare, and
        each single-valued one given more than once."""
        if not request.scope.get("query_string"):
            return
        handler = request.route_handler
        if handler.opt.get(OPEN_QUERY):
            return
        declared = self._of(handler, request.path_params)
        takes = ", ".join(sorted(declared)) if declared else "none"
        errors = []
        for name in request.query_params:
            if name not in declared:
                message = f"Unknown query parameter (this endpoint takes: {takes})."
            elif not declared[name] and len(request.query_params.getall(name)) > 1:
                message = "Given more than once; this parameter takes one value."
            else:
                continue
            errors.append({"message": message, "key": name, "source": "query"})
        if errors:
            raise ValidationException(extra=errors)

    def _of(self, handler: HTTPRouteHandler, path_params: dict[str, Any]) -> dict[str, bool]:
        declared = self._declared.get(handler)
        if declared is None:
            model = handler.create_kwargs_model(path_parameters=dict.fromkeys(path_params))  # type: ignore[arg-type]
            declared = {
                param.field_alias: param.is_sequence for param in model.expected_query_params
            }
            self._declared[handler] = declared
        return declared
