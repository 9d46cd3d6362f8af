"""Single-process implementations of the ports: the fast-test twin of every adapter."""

from dashcore_memory.audit import MemoryAuditLog
from dashcore_memory.secrets import MemorySealedSecretRepository
from dashcore_memory.store import MemoryDatabase, MemoryUnitOfWork

__all__ = [
    "MemoryAuditLog",
    "MemoryDatabase",
    "MemorySealedSecretRepository",
    "MemoryUnitOfWork",
]
