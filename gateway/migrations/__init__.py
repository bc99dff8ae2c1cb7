"""Alembic migrations of the Dialgate schema."""
