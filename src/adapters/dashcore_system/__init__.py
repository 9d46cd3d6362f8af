"""The real clock and identifier generator."""

from dashcore_system.clock import SystemClock
from dashcore_system.ids import Uuid7Generator

__all__ = ["SystemClock", "Uuid7Generator"]
