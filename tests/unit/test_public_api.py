"""Pins the public API of the core: removing or renaming a name is a breaking change."""

import subprocess
import sys
import tomllib
from pathlib import Path

import dashcore
from dashcore.domain import errors

PINNED = {
    "AuditChainBroken", "AuditEvent", "AuditOutcome", "AuthenticationFailed", "BadRequest",
    "CallerContext", "Conflict", "Currency", "DashcoreError", "DecryptionFailed",
    "DependencyUnavailable", "Email", "FieldError", "Forbidden", "IntegrityError", "InvalidInput",
    "Money", "NotFound", "NotSupported", "OrderLimitExceeded", "OrderStateUnknown",
    "ProviderUnavailable", "RateLimited", "ReauthRequired", "StepUpRequired", "__version__",
}  # fmt: skip


def test_every_domain_error_is_public() -> None:
    """Found by QA: adapters and use cases raised errors an embedding service could only
    import from dashcore.domain.errors."""
    assert set(errors.__all__) <= set(dashcore.__all__)


def test_public_names_are_pinned() -> None:
    assert set(dashcore.__all__) == PINNED
    for name in dashcore.__all__:
        assert hasattr(dashcore, name)


def test_every_error_has_a_distinct_stable_code() -> None:
    classes = [getattr(errors, name) for name in errors.__all__ if name != "FieldError"]
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert all(issubclass(cls, errors.DashcoreError) for cls in classes)


def test_the_core_imports_without_any_third_party_package() -> None:
    """The core must be importable with nothing but the standard library."""
    probe = (
        "import sys, importlib\n"
        "for name in ('dashcore', 'dashcore.application.key_rotation',"
        " 'dashcore.application.verify_audit_chain', 'dashcore.testing'):\n"
        "    importlib.import_module(name)\n"
        "stdlib = set(sys.stdlib_module_names)\n"
        "foreign = sorted({m.split('.')[0] for m in sys.modules} - stdlib - {'dashcore'})\n"
        "print(','.join(f for f in foreign if not f.startswith('_')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == ""


def test_every_shipped_package_says_it_is_typed() -> None:
    """Found by QA: without ``py.typed`` (PEP 561), ``mypy --strict`` in a service that
    embeds dashcore treats every dashcore import as untyped."""
    root = Path(__file__).resolve().parents[2]
    wheel = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    packages = wheel["targets"]["wheel"]["packages"]
    assert packages
    assert [p for p in packages if not (root / p / "py.typed").is_file()] == []
