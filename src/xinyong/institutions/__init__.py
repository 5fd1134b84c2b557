"""Institutions: furnishers, querying institutions, API keys and roles."""
