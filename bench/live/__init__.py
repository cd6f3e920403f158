"""bench/live: a syscall workload with and without ``rae run`` (issue 4's live benchmark)."""
