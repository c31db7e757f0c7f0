"""Shared fixtures. Real PostgreSQL and Redis on loopback; in CI a missing server fails."""
