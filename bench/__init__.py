"""Benchmark suite of the customer portal: `python -m bench --help`."""
