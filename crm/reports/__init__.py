"""Managers' reports: SQL aggregates of calls, presence, dispositions and leads; JSON or CSV."""
