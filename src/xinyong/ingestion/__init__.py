"""Ingestion: submissions from furnishers, validation, idempotent batches."""
