"""Benchmark: Kubernetes audit events per second through the webhook into the rules engine."""
