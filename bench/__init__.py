"""Benchmarks of Dialgate hot paths (run as `python -m bench.<name>`)."""
