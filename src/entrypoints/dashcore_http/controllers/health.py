"""Liveness and readiness probes.

- ``GET /health`` answers 200 as long as the process serves requests; it touches nothing.
- ``GET /health/ready`` checks every registered ``DependencyProbe`` (database, Redis)
  concurrently, each within ``Settings.readiness_timeout``: 200 when all answer, else a 503
  problem naming the failing dependencies, with every check's state in ``checks``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog
from dishka import FromDishka
from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from dashcore.ports.health import DependencyProbe
from dashcore_app.settings import Settings
from dashcore_http.di import inject
from dashcore_http.problems import problem_response
from dashcore_http.schemas.health import Liveness, Readiness
from dashcore_http.schemas.problem import Problem

__all__ = ["HealthController", "probe_all"]

_log = structlog.get_logger("dashcore_http")


async def _probe(probe: DependencyProbe, timeout: float) -> str:
    try:
        async with asyncio.timeout(timeout):
            await probe.check(timeout)
    except Exception as error:
        _log.warning("dependency_unavailable", dependency=probe.name, error=repr(error))
        return "unavailable"
    return "ok"


async def probe_all(probes: Sequence[DependencyProbe], timeout: float) -> dict[str, str]:
    """Each probe's state (``ok`` / ``unavailable``), all checked at once within ``timeout``."""
    states = await asyncio.gather(*(_probe(probe, timeout) for probe in probes))
    return {probe.name: state for probe, state in zip(probes, states, strict=True)}


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/", summary="Liveness", sync_to_thread=False)
    def live(self) -> Liveness:
        """Touches nothing and awaits nothing: a plain call, the cheapest Litestar handler."""
        return Liveness()

    @get(
        "/ready",
        summary="Readiness",
        responses={503: ResponseSpec(Problem, description="A dependency is unavailable")},
    )
    @inject
    async def ready(
        self,
        request: Request[Any, Any, Any],
        probes: FromDishka[list[DependencyProbe]],
        settings: FromDishka[Settings],
    ) -> Response[Readiness] | Response[bytes]:
        checks = await probe_all(probes, settings.readiness_timeout)
        failing = sorted(name for name, state in checks.items() if state != "ok")
        if not failing:
            return Response(Readiness(checks=checks))
        return problem_response(
            request,
            503,
            "dependency_unavailable",
            f"Not ready: {', '.join(failing)} unavailable.",
            headers={"Retry-After": "5"},
            dependency=", ".join(failing),
            checks=checks,
        )
