"""Sidekick throughput and latency benchmark: `python -m bench.sidekick`."""
