"""dashcore."""
