"""Thin helpers for frameworks, over the public API."""
