"""Tamper-evident record ledger: an RFC 9162 Merkle log with signed checkpoints."""
