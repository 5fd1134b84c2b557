"""The record-type catalog: which credit records exist, their fields and how rows are checked.

The catalog is data (``data/catalog.toml``), versioned and digested; :mod:`.schemas` holds its
immutable in-memory form and :mod:`.service` loads it and validates record fields against it.
"""
