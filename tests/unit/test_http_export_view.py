"""How an export reads over HTTP as its time passes: past ``expires_at`` it is ``expired``
and offers no download link, although the clean-up job has not forgotten it yet."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from dashcore.domain.exports import Export, ExportFormat, ExportRequest
from dashcore_http.controllers.exports import export_view

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
KEEP = timedelta(hours=24)


def finished() -> Export:
    request = ExportRequest(ExportFormat.CSV, T0 - timedelta(days=30), T0)
    return (
        Export.queued(UUID(int=7), UUID(int=1), request, T0)
        .started(T0, 3)
        .succeeded(T0, row_count=3, byte_size=120, file_key="k.csv", keep=KEEP)
    )


def test_until_it_expires_a_finished_export_offers_its_file() -> None:
    view = export_view(finished(), T0 + KEEP - timedelta(microseconds=1))
    assert (view.status, view.file_url) == ("succeeded", f"/api/v1/exports/{UUID(int=7)}/file")


def test_once_expired_it_says_so_and_offers_no_link() -> None:
    view = export_view(finished(), T0 + KEEP)
    assert (view.status, view.file_url, view.expires_at) == ("expired", None, T0 + KEEP)


def test_an_export_still_running_is_not_expired() -> None:
    running = Export.queued(UUID(int=8), UUID(int=1), finished().request, T0).started(T0, 3)
    assert export_view(running, T0 + 2 * KEEP).status == "running"
