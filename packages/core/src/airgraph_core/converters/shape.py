"""Shape converters (being written)."""
