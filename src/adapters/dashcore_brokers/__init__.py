"""Broker adapters (httpx) and their wire-faithful sandboxes (``dashcore_brokers.sandbox``).

Each broker speaks its real wire format as ``reference/brokers.md`` documents it; nothing here
ever calls a real broker in tests — the sandboxes stand in for them.
"""
