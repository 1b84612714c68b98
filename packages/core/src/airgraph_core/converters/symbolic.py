"""Symbolic converters (being written)."""
