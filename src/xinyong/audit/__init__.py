"""Audit: the access log of reads of credit data and of staff actions."""
