"""Groww Trade API simulator (``reference/brokers.md`` §4)."""

from __future__ import annotations

from dashcore_brokers.sandbox.groww.keys import GrowwKey, KeyType
from dashcore_brokers.sandbox.groww.sandbox import GROWW_USER, GrowwSandbox

__all__ = ["GROWW_USER", "GrowwKey", "GrowwSandbox", "KeyType"]
