"""msgspec structs for HTTP bodies, one module per resource.

Inputs declare ``forbid_unknown_fields=True``; outputs are built explicitly from domain objects
(a domain object is never returned as a body).
"""
