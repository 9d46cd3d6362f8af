"""A complete small example adapter ("example broker") that passes the broker contract, and a
broken variant that proves the contract fails adapters with wrong statuses, float money and
lost pages. It reuses nothing from ``dashcore_brokers`` so that it reads as a model for authors
(docs/adapters.md walks through it)."""
