"""Index converters (being written)."""
