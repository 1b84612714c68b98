"""Creation converters (being written)."""
