"""Alembic migrations; run through :func:`xinyong.migrate.upgrade`."""
