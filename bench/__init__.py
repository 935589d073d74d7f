"""Benchmarks (run as scripts: `.venv/bin/python bench/NAME.py`); a package so mypy and
`from bench.machine import describe` agree on module names."""
