"""Benchmarks of the event backbone: append throughput and append-to-effect latency.

Run with `./tl bench` (or `python -m bench`); see bench/README.md. Not part of the test suite.
"""
