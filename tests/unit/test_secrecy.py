import pytest

from dashcore.domain.secrecy import is_secret_name


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "new_password",
        "access_token",
        "refreshToken",
        "X-Api-Key",
        "api_secret",
        "otp",
        "totp_code",
        "Authorization",
        "private_key",
        "client_secret",
        "Cookie",
        "pin",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["email", "user_id", "status", "path", "method", "duration_ms", "action", "count"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)
