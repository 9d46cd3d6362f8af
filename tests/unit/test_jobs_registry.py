"""The task registry (issue #7): adding a task is one decorated function in one module of
``dashcore_worker.tasks``; names are unique and well formed; every task takes only JSON-scalar
job arguments besides what dishka injects."""

from __future__ import annotations

import inspect
import typing

import pytest
from dishka import FromDishka

from dashcore.domain.errors import InvalidInput
from dashcore_worker.registry import TASKS, TaskRegistry, load_tasks

JSON_SCALARS = {str, int, bool, type(None)}
INJECTED = set(typing.get_args(FromDishka[str])[1:])  # type: ignore[misc] # dishka's alias
"""The marker dishka's ``FromDishka[...]`` puts on a parameter it fills."""


def test_a_task_is_registered_under_its_name() -> None:
    registry = TaskRegistry()

    @registry.task("send_digest")
    async def send_digest(user_id: str) -> None:
        del user_id

    assert registry.names == {"send_digest"}
    assert registry.items() == [("send_digest", send_digest)]


def test_two_tasks_cannot_share_a_name() -> None:
    registry = TaskRegistry()

    @registry.task("send_digest")
    async def first() -> None: ...

    with pytest.raises(ValueError, match="send_digest"):

        @registry.task("send_digest")
        async def second() -> None: ...

    assert registry.items() == [("send_digest", first)]


def test_a_malformed_name_is_refused_at_once() -> None:
    with pytest.raises(InvalidInput):
        TaskRegistry().task("Send-Digest")


def test_dashcores_tasks_are_found_in_the_tasks_package() -> None:
    tasks = load_tasks()
    assert tasks is TASKS
    assert {"refresh_connections", "reauth_warnings", "challenge_cleanup"} <= tasks.names


@pytest.mark.parametrize("name", sorted(load_tasks().names))
def test_every_task_takes_json_scalars_and_injected_dependencies_only(name: str) -> None:
    """What a queue delivers is JSON: a task parameter of any other type would receive a
    string and fail (or worse, half work) on the worker."""
    function = dict(load_tasks().items())[name]
    assert inspect.iscoroutinefunction(function)
    hints = typing.get_type_hints(function, include_extras=True)
    for parameter in inspect.signature(function).parameters.values():
        hint = hints[parameter.name]
        if typing.get_origin(hint) is typing.Annotated:
            assert set(hint.__metadata__) & INJECTED, f"{name}({parameter.name}: {hint})"
            continue
        assert parameter.kind is not inspect.Parameter.POSITIONAL_ONLY
        members = set(typing.get_args(hint)) or {hint}
        assert members <= JSON_SCALARS, f"{name}({parameter.name}: {hint})"
