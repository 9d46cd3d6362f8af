"""Use cases: they orchestrate domain objects through ports and own their transactions."""
