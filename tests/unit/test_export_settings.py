"""Export settings: the defaults, the plans list, the bounds, and the policy built from them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dashcore_app.exports import export_policy
from dashcore_app.settings import Settings, SettingsError


def test_defaults_put_files_under_the_data_dir_and_let_everyone_export() -> None:
    settings = Settings.from_env({"DASHCORE_DATA_DIR": "/srv/dashcore"})
    assert settings.exports_dir == Path("/srv/dashcore/exports")
    assert settings.export_plans == ()
    assert (settings.export_retention_hours, settings.schedule_export_cleanup_seconds) == (24, 600)
    policy = export_policy(settings)
    assert (policy.plans, policy.retention) == (frozenset(), timedelta(hours=24))


def test_plans_retention_and_directory_are_read() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_EXPORT_PLANS": " pro, premium_2 ,,",
            "DASHCORE_EXPORT_RETENTION_HOURS": "72",
            "DASHCORE_EXPORTS_DIR": "/mnt/shared/exports",
            "DASHCORE_SCHEDULE_EXPORT_CLEANUP_SECONDS": "0",
        }
    )
    assert settings.export_plans == ("pro", "premium_2")
    assert settings.exports_dir == Path("/mnt/shared/exports")
    assert settings.schedule_export_cleanup_seconds == 0
    policy = export_policy(settings)
    assert (policy.plans, policy.retention) == ({"pro", "premium_2"}, timedelta(hours=72))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DASHCORE_EXPORT_PLANS", "pro,gold plan"),
        ("DASHCORE_EXPORT_PLANS", "x" * 41),
        ("DASHCORE_EXPORT_RETENTION_HOURS", "0"),
        ("DASHCORE_EXPORT_RETENTION_HOURS", str(24 * 90 + 1)),
        ("DASHCORE_SCHEDULE_EXPORT_CLEANUP_SECONDS", "-1"),
    ],
)
def test_bad_values_are_reported_by_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: value})
    assert any(problem.startswith(variable) for problem in refused.value.problems)
