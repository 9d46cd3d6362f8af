"""Ports: the interfaces the core needs, as ``typing.Protocol`` classes (one module per family)."""
