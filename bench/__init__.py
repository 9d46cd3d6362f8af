"""Load benchmarks for dashcore: every figure is a ratio against a bare Litestar app.

Run ``python -m bench`` (or ``bash bench/run.sh``); see ``bench/README.md``.
"""
