"""The composition root: settings, dishka providers and the embedding facade."""

from dashcore_app.facade import Dashcore, DashcoreScope
from dashcore_app.keys import ensure_development_keys, load_key_ring
from dashcore_app.providers import build_container, providers_for
from dashcore_app.settings import Environment, LogFormat, Settings, SettingsError, StartupError

__all__ = [
    "Dashcore",
    "DashcoreScope",
    "Environment",
    "LogFormat",
    "Settings",
    "SettingsError",
    "StartupError",
    "build_container",
    "ensure_development_keys",
    "load_key_ring",
    "providers_for",
]
