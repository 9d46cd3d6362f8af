"""Rate limiting on the ``limits`` library: Redis counters with an in-process fallback."""
