"""Matmul converters (being written)."""
