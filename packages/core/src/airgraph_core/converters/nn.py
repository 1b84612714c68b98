"""Nn converters (being written)."""
