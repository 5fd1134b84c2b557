"""Data subjects' rights over their credit file: statements attached to items."""
