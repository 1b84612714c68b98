"""Reduction converters (being written)."""
