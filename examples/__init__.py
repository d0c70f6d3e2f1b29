"""Runnable example pipelines (see examples/daily.py and examples/demo.py)."""
