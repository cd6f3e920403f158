"""FalcoAuditRules custom resources → rules files (the rules-loader sidecar)."""
