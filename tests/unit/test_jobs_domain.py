"""Jobs in the domain (issue #7): the job lifecycle, task names and arguments that travel as
JSON, and what a failed job may tell whoever reads its status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import Conflict, InvalidInput, NotFound, ReauthRequired
from dashcore.domain.jobs import (
    JobId,
    JobState,
    JobStatus,
    failure_summary,
    parse_job_arguments,
    parse_task_name,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JOB = JobId("01a20000-0000-7000-8000-000000000001")


def queued() -> JobState:
    return JobState(JOB, "sync_connection")


def test_a_job_runs_then_succeeds_with_its_finish_time() -> None:
    running = queued().started()
    done = running.succeeded(AT)
    assert (queued().status, running.status, done.status) == (
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    )
    assert done.finished_at == AT
    assert done.error is None
    assert running.finished_at is None


def test_a_failed_job_carries_its_error_and_finish_time() -> None:
    failed = queued().started().failed("conflict: taken", AT)
    assert failed.status is JobStatus.FAILED
    assert (failed.error, failed.finished_at) == ("conflict: taken", AT)


def test_a_job_that_never_ran_may_fail_but_not_succeed() -> None:
    assert queued().failed("not queued", AT).status is JobStatus.FAILED
    with pytest.raises(Conflict):
        queued().succeeded(AT)


def test_a_job_delivered_again_runs_again() -> None:
    assert queued().started().started().status is JobStatus.RUNNING


@pytest.mark.parametrize("final", ["succeeded", "failed"])
def test_a_finished_job_never_changes(final: str) -> None:
    running = queued().started()
    done = running.succeeded(AT) if final == "succeeded" else running.failed("boom", AT)
    for change in (done.started, lambda: done.succeeded(AT), lambda: done.failed("x", AT)):
        with pytest.raises(Conflict) as refused:
            change()
        assert refused.value.code == "job_state_conflict"


def test_an_empty_error_still_says_the_job_failed() -> None:
    assert queued().started().failed("", AT).error == "failed"


def test_finish_times_are_utc_and_never_naive() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    done = queued().started().succeeded(AT.astimezone(india))
    assert done.finished_at is not None
    assert done.finished_at.tzinfo is UTC
    assert done.finished_at == AT
    with pytest.raises(InvalidInput):
        queued().started().succeeded(datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001 (the point)


@pytest.mark.parametrize(
    ("status", "error", "finished_at"),
    [
        (JobStatus.QUEUED, None, AT),
        (JobStatus.RUNNING, "boom", None),
        (JobStatus.SUCCEEDED, None, None),
        (JobStatus.SUCCEEDED, "boom", AT),
        (JobStatus.FAILED, None, AT),
        (JobStatus.FAILED, "boom", None),
    ],
)
def test_inconsistent_states_cannot_be_built(
    status: JobStatus, error: str | None, finished_at: datetime | None
) -> None:
    with pytest.raises(InvalidInput):
        JobState(JOB, "sync_connection", status, error, finished_at)


@pytest.mark.parametrize("name", ["sync_connection", "poll_orders", "a1", "x" * 64])
def test_task_names(name: str) -> None:
    assert parse_task_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a", "Sync", "sync-connection", "1sync", "sync connection", "x" * 65, "é_task"]
)
def test_bad_task_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_task_name(name)
    assert refused.value.code == "invalid_task_name"


def test_arguments_are_json_scalars() -> None:
    arguments = {"run_id": str(uuid4()), "limit": 10, "full": True, "since": None}
    assert parse_job_arguments(arguments) == arguments


@pytest.mark.parametrize(
    "value", [1.5, Decimal("1.5"), AT, uuid4(), b"bytes", ["a"], {"a": 1}, object()]
)
def test_other_argument_values_are_refused_naming_the_argument(value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_job_arguments({"amount": value})
    assert refused.value.code == "invalid_job_argument"
    assert [error.field for error in refused.value.errors] == ["amount"]


@pytest.mark.parametrize("name", ["Run", "run-id", "", "1st", "x" * 65])
def test_bad_argument_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        parse_job_arguments({name: "x"})


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text()),
    )
)
def test_any_json_scalar_arguments_pass_unchanged(arguments: dict[str, object]) -> None:
    assert parse_job_arguments(arguments) == arguments


def test_a_domain_error_is_summarized_by_its_code_and_message() -> None:
    error = ReauthRequired("Log in to Schwab again.")
    assert failure_summary(error) == f"{error.code}: Log in to Schwab again."
    assert failure_summary(NotFound("No such run.", code="run_not_found")) == (
        "run_not_found: No such run."
    )


def test_any_other_error_is_summarized_by_its_kind_only() -> None:
    error = RuntimeError("GET https://api.example/x?access_token=s3cr3t failed")
    assert failure_summary(error) == "RuntimeError"
